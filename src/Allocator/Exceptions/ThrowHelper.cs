using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Allocator;

/// <summary>Builds the library's errors off the hot path, and reports each to <see cref="AllocatorEventSource"/>
/// as it is raised.</summary>
internal static class ThrowHelper
{
    /// <summary>Every stack or slot of the pool is out; names the limit as its author wrote it.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowPoolExhausted(string pool, string limit, long configuredValue)
    {
        AllocatorEventSource.Log.PoolExhausted(pool, limit, configuredValue);
        throw new PoolExhaustedException(pool, limit, configuredValue);
    }

    /// <summary>A token refused with <paramref name="reason"/>, reported as it is made (the caller may collect it
    /// rather than throw it).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static InvalidTokenException InvalidToken(InvalidTokenReason reason, string detail)
    {
        AllocatorEventSource.Log.TokenRefused(reason.ToString(), detail);
        return new InvalidTokenException(reason, detail);
    }

    /// <summary>Refuses <paramref name="token"/> presented to Store <paramref name="storeId"/>; a foreign token is
    /// described by the Store that owns it.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowTokenRefused(InvalidTokenReason reason, string token, long ownerStoreId, long storeId) =>
        throw InvalidToken(reason, DescribeRefusal(reason, token, ownerStoreId, storeId));

    /// <summary>Reports a refusal that <c>TryReturn...</c> answers with false instead of an exception.</summary>
    public static void ReportTokenRefused<TToken>(InvalidTokenReason reason, TToken token, long ownerStoreId, long storeId)
        where TToken : struct
    {
        if (AllocatorEventSource.Log.IsEnabled())
        {
            AllocatorEventSource.Log.TokenRefused(reason.ToString(), DescribeRefusal(reason, token.ToString()!, ownerStoreId, storeId));
        }
    }

    // Never Stale: a Store judges only its own live leases (see Store.Judge); only pools answer Stale, and their
    // refusals are worded where they are made.
    private static string DescribeRefusal(InvalidTokenReason reason, string token, long ownerStoreId, long storeId) => reason switch
    {
        InvalidTokenReason.WrongOwner => $"{token} belongs to Store {ownerStoreId}, not to Store {storeId} it was presented to; return it through Store {ownerStoreId}",
        InvalidTokenReason.AlreadyReturned => $"{token} was returned already (double return) to Store {storeId}",
        _ => $"{token} names no checkout Store {storeId} can return (default, or a stack its fiber holds)",
    };
}
