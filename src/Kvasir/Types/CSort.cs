namespace Kvasir.Types;

/// <summary>
/// The two sorts Valkey's replies depend on when elements compare equal: glibc's qsort (a stable
/// top-down merge sort) and Valkey's pqsort (a partial Bentley-McIlroy quicksort that only orders
/// the part of the array a LIMIT / COUNT asks for). Reproducing them keeps the order of ties, and
/// which tied elements make it into a limited result, the same as Valkey's.
/// </summary>
public static class CSort
{
    /// <summary>glibc's msort: stable; equal elements keep their input order.</summary>
    public static void MergeSort<T>(T[] items, Comparison<T> compare)
    {
        if (items.Length < 2) return;
        var tmp = new T[items.Length];
        MergeSort(items, tmp, 0, items.Length, compare);
    }

    private static void MergeSort<T>(T[] a, T[] tmp, int lo, int hi, Comparison<T> compare)
    {
        int n = hi - lo;
        if (n < 2) return;
        int mid = lo + n / 2;
        MergeSort(a, tmp, lo, mid, compare);
        MergeSort(a, tmp, mid, hi, compare);
        int i = lo, j = mid, k = lo;
        while (i < mid && j < hi) tmp[k++] = compare(a[i], a[j]) <= 0 ? a[i++] : a[j++];
        while (i < mid) tmp[k++] = a[i++];
        while (j < hi) tmp[k++] = a[j++];
        Array.Copy(tmp, lo, a, lo, n);
    }

    /// <summary>
    /// Valkey's pqsort: sorts enough of <paramref name="items"/> that positions
    /// <paramref name="lrange"/>..<paramref name="rrange"/> hold what a full sort would put there
    /// (partitions entirely outside that window are left unsorted).
    /// </summary>
    public static void PartialQuickSort<T>(T[] items, Comparison<T> compare, int lrange, int rrange) =>
        PartialQuickSort(items, 0, items.Length, compare, lrange, rrange);

    private static void Swap<T>(T[] a, int i, int j) => (a[i], a[j]) = (a[j], a[i]);

    private static void VecSwap<T>(T[] a, int i, int j, int n)
    {
        for (int k = 0; k < n; k++) Swap(a, i + k, j + k);
    }

    private static int Med3<T>(T[] a, int i, int j, int k, Comparison<T> cmp) =>
        cmp(a[i], a[j]) < 0
            ? (cmp(a[j], a[k]) < 0 ? j : (cmp(a[i], a[k]) < 0 ? k : i))
            : (cmp(a[j], a[k]) > 0 ? j : (cmp(a[i], a[k]) < 0 ? i : k));

    private static void PartialQuickSort<T>(T[] a, int start, int n, Comparison<T> cmp, int lrange, int rrange)
    {
        while (true)
        {
            if (n < 7)
            {
                for (int m = start + 1; m < start + n; m++)
                    for (int l = m; l > start && cmp(a[l - 1], a[l]) > 0; l--) Swap(a, l, l - 1);
                return;
            }
            int pm = start + n / 2;
            if (n > 7)
            {
                int pl = start, pn = start + n - 1;
                if (n > 40)
                {
                    int d = n / 8;
                    pl = Med3(a, pl, pl + d, pl + 2 * d, cmp);
                    pm = Med3(a, pm - d, pm, pm + d, cmp);
                    pn = Med3(a, pn - 2 * d, pn - d, pn, cmp);
                }
                pm = Med3(a, pl, pm, pn, cmp);
            }
            Swap(a, start, pm);
            int pa = start + 1, pb = pa;
            int pc = start + n - 1, pd = pc;
            while (true)
            {
                int c;
                while (pb <= pc && (c = cmp(a[pb], a[start])) <= 0)
                {
                    if (c == 0)
                    {
                        Swap(a, pa, pb);
                        pa++;
                    }
                    pb++;
                }
                while (pb <= pc && (c = cmp(a[pc], a[start])) >= 0)
                {
                    if (c == 0)
                    {
                        Swap(a, pc, pd);
                        pd--;
                    }
                    pc--;
                }
                if (pb > pc) break;
                Swap(a, pb, pc);
                pb++;
                pc--;
            }

            int end = start + n;
            int r = Math.Min(pa - start, pb - pa);
            VecSwap(a, start, pb - r, r);
            r = Math.Min(pd - pc, end - pd - 1);
            VecSwap(a, pb, end - r, r);

            // Recurse into the lower partition and loop on the upper one, skipping any partition
            // that lies entirely outside the wanted window.
            r = pb - pa;
            if (r > 1 && Overlaps(start, start + r - 1, lrange, rrange))
                PartialQuickSort(a, start, r, cmp, lrange, rrange);
            r = pd - pc;
            if (r <= 1) return;
            start = end - r;
            n = r;
            if (!Overlaps(start, start + r - 1, lrange, rrange)) return;
        }
    }

    private static bool Overlaps(int lo, int hi, int lrange, int rrange) =>
        !((lrange < lo && rrange < lo) || (lrange > hi && rrange > hi));
}
