namespace Allocator;

/// <summary>Why a token was refused.</summary>
public enum InvalidTokenReason
{
    /// <summary>The token was handed out by another Store.</summary>
    WrongOwner,
    /// <summary>The token's checkout has been returned already (double return).</summary>
    AlreadyReturned,
    /// <summary>The checkout ended without this token: its Store released it (Dispose, IntoData, the finalizer).</summary>
    Stale,
    /// <summary>The token names no checkout: <c>default</c>, or a stack a fiber holds (only the fiber returns it).</summary>
    Unknown,
}
