using System.Runtime.InteropServices;

namespace Kvasir.Types;

/// <summary>
/// A sorted array of distinct integers stored with the narrowest element width (2, 4 or 8 bytes)
/// that holds all of them, widened when a value needs it: Valkey's intset. Lookups are binary
/// searches; inserts and removals move the tail of the array.
/// </summary>
public sealed class IntSet
{
    private byte[] _data = Array.Empty<byte>();
    private int _width = 2;
    private int _count;

    public int Count => _count;

    /// <summary>Bytes per element: 2, 4 or 8.</summary>
    public int Width => _width;

    public long MemoryUsage => 32 + 24 + _data.Length;

    private static int WidthFor(long v) =>
        v >= short.MinValue && v <= short.MaxValue ? 2 : v >= int.MinValue && v <= int.MaxValue ? 4 : 8;

    public long Get(int index) => _width switch
    {
        2 => MemoryMarshal.Cast<byte, short>(_data.AsSpan())[index],
        4 => MemoryMarshal.Cast<byte, int>(_data.AsSpan())[index],
        _ => MemoryMarshal.Cast<byte, long>(_data.AsSpan())[index],
    };

    private void SetAt(int index, long v)
    {
        switch (_width)
        {
            case 2: MemoryMarshal.Cast<byte, short>(_data.AsSpan())[index] = (short)v; break;
            case 4: MemoryMarshal.Cast<byte, int>(_data.AsSpan())[index] = (int)v; break;
            default: MemoryMarshal.Cast<byte, long>(_data.AsSpan())[index] = v; break;
        }
    }

    public long Min => Get(0);
    public long Max => Get(_count - 1);

    /// <summary>Index of <paramref name="v"/>, or the bitwise complement of where it would go.</summary>
    private int Search(long v)
    {
        if (WidthFor(v) > _width)
        {
            // Out of the current width's range: it would go at one end.
            return v < 0 ? ~0 : ~_count;
        }
        return _width switch
        {
            2 => MemoryMarshal.Cast<byte, short>(_data.AsSpan(0, _count * 2)).BinarySearch((short)v),
            4 => MemoryMarshal.Cast<byte, int>(_data.AsSpan(0, _count * 4)).BinarySearch((int)v),
            _ => MemoryMarshal.Cast<byte, long>(_data.AsSpan(0, _count * 8)).BinarySearch(v),
        };
    }

    public bool Contains(long v) => Search(v) >= 0;

    /// <summary>Adds <paramref name="v"/>; false when already present.</summary>
    public bool Add(long v)
    {
        int w = WidthFor(v);
        if (w > _width) Widen(w);
        int i = Search(v);
        if (i >= 0) return false;
        i = ~i;
        int need = (_count + 1) * _width;
        if (need > _data.Length)
        {
            // Grow by a quarter: intsets are small and read far more often than grown.
            int cap = Math.Max(need, _data.Length + Math.Max(8 * _width, _data.Length / 4));
            var next = new byte[cap];
            _data.AsSpan(0, _count * _width).CopyTo(next);
            _data = next;
        }
        _data.AsSpan(i * _width, (_count - i) * _width).CopyTo(_data.AsSpan((i + 1) * _width));
        _count++;
        SetAt(i, v);
        return true;
    }

    public bool Remove(long v)
    {
        int i = Search(v);
        if (i < 0) return false;
        _data.AsSpan((i + 1) * _width, (_count - i - 1) * _width).CopyTo(_data.AsSpan(i * _width));
        _count--;
        if (_data.Length > 64 && _count * _width * 2 < _data.Length)
        {
            var next = new byte[_count * _width + 8 * _width];
            _data.AsSpan(0, _count * _width).CopyTo(next);
            _data = next;
        }
        return true;
    }

    private void Widen(int width)
    {
        var next = new byte[Math.Max(_count + 1, 4) * width];
        var old = this;
        var widened = new IntSet { _data = next, _width = width, _count = _count };
        for (int i = 0; i < _count; i++) widened.SetAt(i, old.Get(i));
        _data = next;
        _width = width;
    }

    public IntSet Clone() => new() { _data = (byte[])_data.Clone(), _width = _width, _count = _count };

    /// <summary>The set in Valkey's intset blob layout (encoding, length, little-endian values), for RDB.</summary>
    public byte[] ToBlob()
    {
        var blob = new byte[8 + _count * _width];
        BitConverter.TryWriteBytes(blob.AsSpan(0, 4), (uint)_width);
        BitConverter.TryWriteBytes(blob.AsSpan(4, 4), (uint)_count);
        _data.AsSpan(0, _count * _width).CopyTo(blob.AsSpan(8));
        return blob;
    }
}
