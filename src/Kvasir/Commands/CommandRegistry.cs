namespace Kvasir.Commands;

/// <summary>Binds every command family's handlers into the table. One line per family file.</summary>
public static class CommandRegistry
{
    public static void RegisterAll(CommandTable table)
    {
        ConnectionCommands.Register(table);
        ClientCommands.Register(table);
        TransactionCommands.Register(table);
        StringCommands.Register(table);
        BitmapCommands.Register(table);
        KeyCommands.Register(table);
        ExpireCommands.Register(table);
        ConfigCommands.Register(table);
        HashCommands.Register(table);
        SortedSetCommands.Register(table);
    }
}
