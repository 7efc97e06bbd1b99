namespace Kvasir.Clients;

/// <summary>Connected clients by id (CLIENT LIST/KILL, INFO clients, timeouts, MONITOR fan-out). Used under the data lock.</summary>
public sealed class ClientRegistry
{
    private readonly SortedDictionary<long, Client> _clients = new();
    private readonly List<Client> _monitors = new();

    public int Count => _clients.Count;

    public IEnumerable<Client> All => _clients.Values;

    public IReadOnlyList<Client> Monitors => _monitors;

    public void Add(Client c) => _clients[c.Id] = c;

    public void Remove(Client c)
    {
        _clients.Remove(c.Id);
        if (c.Has(ClientFlags.Monitor)) _monitors.Remove(c);
    }

    public Client? Find(long id) => _clients.GetValueOrDefault(id);

    public void AddMonitor(Client c)
    {
        if (!_monitors.Contains(c)) _monitors.Add(c);
    }

    /// <summary>Largest pending input buffer among clients (client_recent_max_input_buffer).</summary>
    public long MaxInputBuffer => _clients.Count == 0 ? 0 : _clients.Values.Max(c => (long)c.QueryBufferLength);

    public long MaxOutputBuffer => _clients.Count == 0 ? 0 : _clients.Values.Max(c => (long)c.Reply.Length);

    /// <summary>End of a CLIENT PAUSE (unix ms), 0 when not paused, and whether only writes pause.</summary>
    public long PauseEndMs;
    public bool PauseWritesOnly;
}
