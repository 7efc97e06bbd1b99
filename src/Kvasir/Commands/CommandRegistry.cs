namespace Kvasir.Commands;

/// <summary>Binds every command family's handlers into the table. One line per family file.</summary>
public static class CommandRegistry
{
    public static void RegisterAll(CommandTable table)
    {
        ConnectionCommands.Register(table);
        ClientCommands.Register(table);
        AclCommands.Register(table);
        TransactionCommands.Register(table);
        StringCommands.Register(table);
        BitmapCommands.Register(table);
        KeyCommands.Register(table);
        ExpireCommands.Register(table);
        ConfigCommands.Register(table);
        FunctionCommands.Register(table);
        ScriptingCommands.Register(table);
        ReplicationCommands.Register(table);
        ClusterCommands.Register(table);
        MemoryCommands.Register(table);
        InfoCommand.Register(table);
        CommandIntrospection.Register(table);
        ServerCommands.Register(table);
        SlowlogCommands.Register(table);
        LatencyCommands.Register(table);
        DebugCommands.Register(table);
        ListCommands.Register(table);
        BlockingCommands.Register(table);
        SetCommands.Register(table);
        HashCommands.Register(table);
        HashFieldExpiryCommands.Register(table);
        SortedSetCommands.Register(table);
        PersistenceCommands.Register(table);
        GeoCommands.Register(table);
        HyperLogLogCommands.Register(table);
        SortCommand.Register(table);
        DumpCommands.Register(table);
        MigrateCommand.Register(table);
        PubSubCommands.Register(table);
        StreamCommands.Register(table);
        StreamReadCommands.Register(table);
        StreamGroupCommands.Register(table);
        ModuleCommands.Register(table);
        LolwutCommand.Register(table);
    }
}
