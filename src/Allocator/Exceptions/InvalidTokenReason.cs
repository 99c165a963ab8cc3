namespace Allocator;

/// <summary>Why a token was refused.</summary>
public enum InvalidTokenReason
{
    /// <summary>The token was handed out by another Store.</summary>
    WrongOwner,
    /// <summary>The token's checkout has been returned already (double return).</summary>
    AlreadyReturned,
    /// <summary>The checkout ended and the pool has handed the resource out again since (a pool's verdict on an old
    /// checkout; a Store that ended refuses its tokens with <see cref="System.ObjectDisposedException"/> instead).</summary>
    Stale,
    /// <summary>The token names no checkout: <c>default</c>, or a stack a fiber holds (only the fiber returns it).</summary>
    Unknown,
}
