using Kvasir.Observability;

namespace Kvasir.Sentinel;

/// <summary>Connecting to instances and the periodic PING, INFO and hello traffic.</summary>
public sealed partial class SentinelState
{
    /// <summary>
    /// Opens the missing connections of an instance's link, at most once per ping period
    /// (sentinelReconnectInstance): each authenticates if needed, names itself
    /// "sentinel-&lt;id&gt;-cmd|pubsub", the command connection PINGs at once, and the pub/sub
    /// connection of a primary or replica subscribes to the hello channel.
    /// </summary>
    private void ReconnectInstance(SentinelInstance ri)
    {
        var link = ri.Link;
        if (!link.Disconnected) return;
        if (ri.Address.Port == 0) return; // an address known to be invalid
        long now = Now();
        if (now - link.LastReconnectTime < Timings.PingPeriod) return;
        link.LastReconnectTime = now;

        if (link.Commands is null)
        {
            // The instance may have moved (or could not be resolved before): resolve its name again.
            if (ResolveHostnames)
            {
                var again = SentinelAddress.Create(this, ri.Address.Hostname, ri.Address.Port, acceptUnresolved: false, out _);
                if (again is not null) ri.Address = again;
            }
            var cc = InstanceConnection.Open(this, link, ri.Address.Ip, ri.Address.Port, out string? error);
            if (cc is null)
            {
                InstanceEvent(LogLevel.Debug, "-cmd-link-reconnection", ri, "#" + error);
            }
            else
            {
                link.PendingCommands = 0;
                link.CommandsConnectedAt = Now();
                link.Commands = cc;
                SendAuthIfNeeded(ri, cc);
                SetClientName(ri, cc, "cmd");
                SendPing(ri);
            }
        }
        if (ri.Has(InstanceFlags.Primary | InstanceFlags.Replica) && link.PubSub is null)
        {
            var pc = InstanceConnection.Open(this, link, ri.Address.Ip, ri.Address.Port, out string? error);
            if (pc is null)
            {
                InstanceEvent(LogLevel.Debug, "-pubsub-link-reconnection", ri, "#" + error);
            }
            else
            {
                link.PubSubConnectedAt = Now();
                link.PubSub = pc;
                SendAuthIfNeeded(ri, pc);
                SetClientName(ri, pc, "pubsub");
                if (!pc.Subscribe(reply => ReceiveHelloMessage(ri, reply), ri.MapCommand("SUBSCRIBE"), HelloChannel))
                {
                    link.CloseConnection(pc);
                    return;
                }
            }
        }
        // Connected once both connections exist (only the command one for a Sentinel).
        if (link.Commands is not null && (ri.IsSentinel || link.PubSub is not null)) link.Disconnected = false;
    }

    /// <summary>
    /// AUTH on a new connection (sentinelSendAuthIfNeeded): a primary's auth-pass/auth-user for it and
    /// its replicas; for other Sentinels sentinel-pass/sentinel-user, or else this Sentinel's own
    /// requirepass (Sentinels sharing one password). The reply is not checked: a refused AUTH shows
    /// as an instance that does not answer PING.
    /// </summary>
    private void SendAuthIfNeeded(SentinelInstance ri, InstanceConnection c)
    {
        string? pass, user;
        if (ri.IsPrimary)
        {
            pass = ri.AuthPass;
            user = ri.AuthUser;
        }
        else if (ri.IsReplica)
        {
            pass = ri.Primary!.AuthPass;
            user = ri.Primary!.AuthUser;
        }
        else if (SentinelAuthPass is not null)
        {
            pass = SentinelAuthPass;
            user = SentinelAuthUser;
        }
        else
        {
            pass = Server.Config.RequirePass.Length > 0 ? Server.Config.RequirePass : null;
            user = null;
        }
        if (pass is null) return;
        bool sent = user is null
            ? c.Send(_ => DiscardReply(ri), ri.MapCommand("AUTH"), pass)
            : c.Send(_ => DiscardReply(ri), ri.MapCommand("AUTH"), user, pass);
        if (sent) ri.Link.PendingCommands++;
    }

    private void SetClientName(SentinelInstance ri, InstanceConnection c, string type)
    {
        string name = $"sentinel-{MyId[..Math.Min(8, MyId.Length)]}-{type}";
        if (c.Send(_ => DiscardReply(ri), ri.MapCommand("CLIENT"), "SETNAME", name)) ri.Link.PendingCommands++;
    }

    /// <summary>A reply we do not look at (its effects show in the next INFO).</summary>
    private static void DiscardReply(SentinelInstance ri) => ri.Link.PendingCommands--;

    /// <summary>Sends PING; the oldest unanswered PING's time is what failure detection measures.</summary>
    private bool SendPing(SentinelInstance ri)
    {
        var cc = ri.Link.Commands;
        if (cc is null || !cc.Send(reply => PingReply(ri, reply), ri.MapCommand("PING"))) return false;
        var link = ri.Link;
        link.PendingCommands++;
        link.LastPingTime = Now();
        if (link.ActPingTime == 0) link.ActPingTime = link.LastPingTime;
        return true;
    }

    private void PingReply(SentinelInstance ri, RespReply reply)
    {
        var link = ri.Link;
        link.PendingCommands--;
        if (reply.Type is RespReplyType.Status or RespReplyType.Error)
        {
            // PONG, LOADING and MASTERDOWN count as "the instance is there".
            if (reply.Text.StartsWith("PONG", StringComparison.Ordinal) || reply.Text.StartsWith("LOADING", StringComparison.Ordinal) ||
                reply.Text.StartsWith("MASTERDOWN", StringComparison.Ordinal))
            {
                link.LastAvailTime = Now();
                link.ActPingTime = 0;
                if (ri.Has(InstanceFlags.PrimaryReboot) && reply.Text.StartsWith("PONG", StringComparison.Ordinal))
                    ri.Flags &= ~InstanceFlags.PrimaryReboot;
            }
            else if (reply.Text.StartsWith("BUSY", StringComparison.Ordinal) && ri.Has(InstanceFlags.SDown) && !ri.Has(InstanceFlags.ScriptKillSent))
            {
                // Down because a script runs forever: stop it.
                if (link.Commands is { } cc && cc.Send(_ => DiscardReply(ri), ri.MapCommand("SCRIPT"), "KILL")) link.PendingCommands++;
                ri.Flags |= InstanceFlags.ScriptKillSent;
            }
        }
        link.LastPongTime = Now();
    }

    /// <summary>
    /// PING every second (or every down-after-milliseconds when shorter), INFO every info period
    /// (every second for replicas while their primary is down or failing over, or while they report a
    /// broken link), and the hello message every publish period (sentinelSendPeriodicCommands).
    /// </summary>
    private void SendPeriodicCommands(SentinelInstance ri)
    {
        var link = ri.Link;
        if (link.Disconnected) return;
        // A link that stopped answering must not accumulate commands without bound.
        if (link.PendingCommands >= MaxPendingCommands * link.RefCount) return;
        long now = Now();

        long infoPeriod = ri.IsReplica && (ri.Primary!.Has(InstanceFlags.ODown | InstanceFlags.FailoverInProgress) || ri.PrimaryLinkDownTime != 0)
            ? 1000
            : Timings.InfoPeriod;
        long pingPeriod = Math.Min(ri.DownAfterPeriod, Timings.PingPeriod);

        if (!ri.IsSentinel && (ri.InfoRefresh == 0 || now - ri.InfoRefresh > infoPeriod))
        {
            if (link.Commands is { } cc && cc.Send(reply => InfoReply(ri, reply), ri.MapCommand("INFO"))) link.PendingCommands++;
        }
        if (now - link.LastPongTime > pingPeriod && now - link.LastPingTime > pingPeriod / 2) SendPing(ri);
        if (now - ri.LastPubTime > Timings.PublishPeriod) SendHello(ri);
    }

    private void InfoReply(SentinelInstance ri, RespReply reply)
    {
        ri.Link.PendingCommands--;
        if (reply.Type == RespReplyType.Bulk && !ri.Released) RefreshInstanceInfo(ri, reply.Text);
    }

    // ----- hello messages -----

    /// <summary>
    /// Publishes this Sentinel and its view of the primary on the hello channel of an instance, or to
    /// another Sentinel directly (which answers PUBLISH to that channel):
    /// "ip,port,myid,current_epoch,primary_name,primary_ip,primary_port,primary_config_epoch".
    /// </summary>
    private bool SendHello(SentinelInstance ri)
    {
        var primary = ri.OwnPrimary;
        var primaryAddress = CurrentPrimaryAddress(primary);
        if (ri.Link.Disconnected || ri.Link.Commands is not { } cc) return false;
        string? ip = AnnounceIp ?? cc.LocalAddress();
        if (ip is null) return false;
        int port = AnnouncePort != 0 ? AnnouncePort : Server.BoundPort != 0 ? Server.BoundPort : Server.Config.Port;
        string payload = $"{ip},{port},{MyId},{CurrentEpoch},{primary.Name},{primaryAddress.Announced(this)},{primaryAddress.Port},{primary.ConfigEpoch}";
        if (!cc.Send(reply => PublishReply(ri, reply), ri.MapCommand("PUBLISH"), HelloChannel, payload)) return false;
        ri.Link.PendingCommands++;
        return true;
    }

    private void PublishReply(SentinelInstance ri, RespReply reply)
    {
        ri.Link.PendingCommands--;
        // Only a published hello counts; a refused one is retried at the next tick.
        if (!reply.IsError) ri.LastPubTime = Now();
    }

    /// <summary>A message on an instance's hello channel (our own ones are skipped).</summary>
    private void ReceiveHelloMessage(SentinelInstance ri, RespReply reply)
    {
        if (ri.Released) return;
        ri.Link.PubSubLastActivity = Now();
        if (reply.Type != RespReplyType.Array || reply.Items.Length != 3) return;
        var items = reply.Items;
        if (items[0].Type != RespReplyType.Bulk || items[1].Type != RespReplyType.Bulk || items[2].Type != RespReplyType.Bulk) return;
        if (items[0].Text != "message") return;
        if (items[2].Text.Contains(MyId, StringComparison.Ordinal)) return;
        ProcessHelloMessage(items[2].Text);
    }

    /// <summary>
    /// A hello message, from a channel or from another Sentinel's PUBLISH (sentinelProcessHelloMessage):
    /// discovers Sentinels (or their new address), adopts a newer current epoch, and switches to the
    /// primary address of a newer configuration epoch (+switch-master).
    /// </summary>
    public void ProcessHelloMessage(string hello)
    {
        var token = hello.Split(',');
        if (token.Length != 8) return;
        var primary = GetPrimary(token[4]);
        if (primary is null) return;

        int port = AtoI(token[1]);
        int primaryPort = AtoI(token[6]);
        var si = FindByAddressAndRunId(primary.Sentinels.Values, token[0], port, token[2]);
        ulong currentEpoch = StrToULong(token[3]);
        ulong primaryConfigEpoch = StrToULong(token[7]);

        if (si is null)
        {
            // A Sentinel we know by id at another address moved: drop the old entry.
            int removed = RemoveMatchingSentinel(primary, token[2]);
            if (removed > 0)
            {
                InstanceEvent(LogLevel.Notice, "+sentinel-address-switch", primary, $"ip {token[0]} port {port} for {token[2]}");
            }
            else
            {
                // Another Sentinel at the same address with a different id (restarted without its
                // config): it is gone, under every primary.
                var other = FindByAddressAndRunId(primary.Sentinels.Values, token[0], port, null);
                if (other is not null)
                {
                    InstanceEvent(LogLevel.Notice, "+sentinel-invalid-addr", other);
                    string? obsolete = other.RunId;
                    foreach (var p in Primaries.Values) RemoveMatchingSentinel(p, obsolete);
                }
            }

            si = CreateInstance(token[2], InstanceFlags.Sentinel, token[0], port, primary.Quorum, primary, out _);
            if (si is not null)
            {
                if (removed == 0) InstanceEvent(LogLevel.Notice, "+sentinel", si);
                si.RunId = token[2];
                TryConnectionSharing(si);
                if (removed > 0) UpdateSentinelAddressInAllPrimaries(si);
                FlushConfig();
            }
        }

        if (currentEpoch > CurrentEpoch)
        {
            CurrentEpoch = currentEpoch;
            FlushConfig();
            Event(LogLevel.Warning, "+new-epoch", primary, CurrentEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (si is not null && primary.ConfigEpoch < primaryConfigEpoch)
        {
            primary.ConfigEpoch = primaryConfigEpoch;
            // Compared with the address we announce (the promoted replica once our own failover got
            // that far), not only the configured one: a newer epoch naming the old primary must also
            // end a failover of ours whose promoted replica died before it could finish (Valkey
            // compares with the configured address only and stays stuck in that failover).
            var current = CurrentPrimaryAddress(primary);
            if (primaryPort != current.Port || !current.MatchesHost(this, token[5]))
            {
                InstanceEvent(LogLevel.Warning, "+config-update-from", si);
                Event(LogLevel.Warning, "+switch-master", primary,
                    $"{primary.Name} {primary.Address.Announced(this)} {primary.Address.Port} {token[5]} {primaryPort}");
                var oldAddress = primary.Address.Copy();
                ResetPrimaryAndChangeAddress(primary, token[5], primaryPort);
                CallClientReconfScript(primary, leader: false, "start", oldAddress, primary.Address);
            }
        }

        if (si is not null) si.LastHelloTime = Now();
    }

    /// <summary>Makes the next timer tick send hello messages for this primary everywhere (sentinelForceHelloUpdateForPrimary).</summary>
    private void ForceHelloUpdateForPrimary(SentinelInstance primary)
    {
        long step = Timings.PublishPeriod + 1;
        if (primary.LastPubTime >= step) primary.LastPubTime -= step;
        foreach (var s in primary.Sentinels.Values)
            if (s.LastPubTime >= step) s.LastPubTime -= step;
        foreach (var r in primary.Replicas.Values)
            if (r.LastPubTime >= step) r.LastPubTime -= step;
    }

    /// <summary>C's atoi: leading digits (with sign), 0 when there are none.</summary>
    internal static int AtoI(string s)
    {
        long v = 0;
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        while (i < s.Length && s[i] is >= '0' and <= '9' && v < int.MaxValue) v = v * 10 + (s[i++] - '0');
        v = neg ? -v : v;
        return (int)Math.Clamp(v, int.MinValue, int.MaxValue);
    }

    /// <summary>C's strtoull base 10: leading digits, 0 when there are none.</summary>
    internal static ulong StrToULong(string s)
    {
        ulong v = 0;
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        if (i < s.Length && s[i] == '+') i++;
        while (i < s.Length && s[i] is >= '0' and <= '9')
        {
            ulong d = (ulong)(s[i++] - '0');
            if (v > (ulong.MaxValue - d) / 10) return ulong.MaxValue;
            v = v * 10 + d;
        }
        return v;
    }
}
