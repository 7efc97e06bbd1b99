namespace Kvasir.Types;

/// <summary>The NX XX GT LT options of EXPIRE and HEXPIRE.</summary>
[Flags]
public enum ExpireCondition
{
    None = 0,
    Nx = 1,
    Xx = 2,
    Gt = 4,
    Lt = 8,
}

public static class ExpireConditions
{
    /// <summary>
    /// True when the condition forbids replacing <paramref name="current"/> (-1: no TTL) by
    /// <paramref name="when"/>. No TTL counts as an infinite one: never smaller for GT, always larger for LT.
    /// </summary>
    public static bool Refuses(this ExpireCondition c, long current, long when) =>
        ((c & ExpireCondition.Nx) != 0 && current != -1) ||
        ((c & ExpireCondition.Xx) != 0 && current == -1) ||
        ((c & ExpireCondition.Gt) != 0 && (current == -1 || when <= current)) ||
        ((c & ExpireCondition.Lt) != 0 && current != -1 && when >= current);
}
