namespace Allocator;

/// <summary>Why a token was refused.</summary>
public enum InvalidTokenReason
{
    /// <summary>The token was made by another Store or pool.</summary>
    WrongOwner,
    /// <summary>The token's slot has been returned already (double return).</summary>
    AlreadyReturned,
    /// <summary>The slot has since been handed out again; the token is from an older checkout.</summary>
    Stale,
    /// <summary>The token names no slot of this pool (default or forged).</summary>
    Unknown,
}
