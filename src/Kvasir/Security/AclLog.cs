namespace Kvasir.Security;

/// <summary>Why a command or login was refused (Valkey's ACL_DENIED_*; the order decides which error a multi-selector user reports).</summary>
public enum AclDenial
{
    None = 0,
    Command = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

/// <summary>Where the refused command came from (ACL LOG "context").</summary>
public enum AclLogContext { TopLevel, Lua, Multi, Module }

/// <summary>One ACL LOG entry; similar refusals close in time are counted in one entry.</summary>
public sealed class AclLogEntry
{
    public long Count = 1;
    public AclDenial Reason;
    public AclLogContext Context;
    public string Object = "";
    public string Username = "";
    public long UpdatedMs;
    public string ClientInfo = "";
    public long EntryId;
    public long CreatedMs;

    public string ReasonName => Reason switch
    {
        AclDenial.Command => "command",
        AclDenial.Key => "key",
        AclDenial.Channel => "channel",
        AclDenial.Auth => "auth",
        _ => "unknown",
    };

    public string ContextName => Context switch
    {
        AclLogContext.TopLevel => "toplevel",
        AclLogContext.Multi => "multi",
        AclLogContext.Lua => "lua",
        AclLogContext.Module => "module",
        _ => "unknown",
    };
}

/// <summary>
/// The security log (ACL LOG): newest first, at most acllog-max-len entries. A refusal like one of
/// the 10 newest entries (same reason, context, object and user, within a minute) updates that
/// entry and moves it to the front instead of adding one, as Valkey does.
/// </summary>
public sealed class AclLog
{
    private const long GroupingWindowMs = 60_000;
    private const int ScanForDuplicates = 10;

    private readonly List<AclLogEntry> _entries = new(); // oldest first: the newest is at the end
    private long _nextEntryId;

    public int Count => _entries.Count;

    /// <summary>Entries newest first.</summary>
    public IEnumerable<AclLogEntry> Newest()
    {
        for (int i = _entries.Count - 1; i >= 0; i--) yield return _entries[i];
    }

    public void Reset() => _entries.Clear();

    public void Add(AclLogEntry entry, long maxLength)
    {
        if (maxLength == 0)
        {
            Trim(0);
            return;
        }
        int scanned = 0;
        for (int i = _entries.Count - 1; i >= 0 && scanned < ScanForDuplicates; i--, scanned++)
        {
            var e = _entries[i];
            if (e.Reason != entry.Reason || e.Context != entry.Context || Math.Abs(e.UpdatedMs - entry.UpdatedMs) > GroupingWindowMs ||
                e.Object != entry.Object || e.Username != entry.Username) continue;
            _entries.RemoveAt(i);
            e.ClientInfo = entry.ClientInfo;
            e.UpdatedMs = entry.UpdatedMs;
            e.Count++;
            _entries.Add(e);
            return;
        }
        entry.EntryId = _nextEntryId++;
        entry.CreatedMs = entry.UpdatedMs;
        _entries.Add(entry);
        Trim(maxLength);
    }

    private void Trim(long maxLength)
    {
        if (_entries.Count > maxLength) _entries.RemoveRange(0, _entries.Count - (int)maxLength);
    }
}
