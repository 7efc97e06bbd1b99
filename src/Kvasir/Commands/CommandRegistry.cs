namespace Kvasir.Commands;

/// <summary>Binds every command family's handlers into the table. One line per family file.</summary>
public static class CommandRegistry
{
    public static void RegisterAll(CommandTable table)
    {
        ConnectionCommands.Register(table);
        StringCommands.Register(table);
        ListCommands.Register(table);
        SetCommands.Register(table);
    }
}
