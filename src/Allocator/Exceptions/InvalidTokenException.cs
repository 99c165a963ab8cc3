namespace Allocator;

/// <summary>A token was refused; the pool and the Store are unchanged.</summary>
public sealed class InvalidTokenException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public InvalidTokenException(InvalidTokenReason reason, string detail)
        : base($"Token refused ({reason}): {detail}")
    {
        Reason = reason;
    }

    /// <summary>Why it was refused.</summary>
    public InvalidTokenReason Reason { get; }
}
