namespace Allocator.Pooling;

/// <summary>The one rule both pools use to judge a checkout against a slot's state word (even = not out, odd = out,
/// the odd value being the checkout's generation).</summary>
internal static class CheckoutGeneration
{
    /// <summary>Null when <paramref name="generation"/> is the current checkout of slot <paramref name="index"/>
    /// of a pool with <paramref name="slotCount"/> slots whose state word reads <paramref name="state"/>.</summary>
    public static InvalidTokenReason? Judge(int index, int slotCount, ulong generation, ulong state)
    {
        if ((uint)index >= (uint)slotCount || (generation & 1) == 0)
        {
            return InvalidTokenReason.Unknown;
        }
        return state == generation ? null
            // A return adds one and the next checkout one more, so a state two or more ahead means the slot moved on.
            : state > generation + 1 ? InvalidTokenReason.Stale
            : state == generation + 1 ? InvalidTokenReason.AlreadyReturned
            : InvalidTokenReason.Unknown;
    }
}
