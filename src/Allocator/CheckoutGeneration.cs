namespace Allocator;

/// <summary>The one rule both pools use to judge a token against a slot's state word (even = not out, odd = out,
/// the odd value being the checkout's generation).</summary>
internal static class CheckoutGeneration
{
    /// <summary>Why a token cannot name a checkout of this pool at all, or null when its owner and index fit.</summary>
    public static InvalidTokenReason? CheckShape(int tokenPoolId, int poolId, int index, int slotCount, uint generation)
    {
        if (tokenPoolId != poolId)
        {
            return generation == 0 ? InvalidTokenReason.Unknown : InvalidTokenReason.WrongOwner;
        }
        if ((uint)index >= (uint)slotCount || (generation & 1) == 0)
        {
            return InvalidTokenReason.Unknown;
        }
        return null;
    }

    /// <summary>Null when <paramref name="generation"/> is the slot's current checkout, otherwise why not.</summary>
    public static InvalidTokenReason? CheckCurrent(uint state, uint generation) =>
        state == generation ? null
        // A return adds one and the next checkout one more, so a state two or more ahead means the slot moved on.
        : state > generation + 1 ? InvalidTokenReason.Stale
        : InvalidTokenReason.AlreadyReturned;
}
