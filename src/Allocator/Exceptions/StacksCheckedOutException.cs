namespace Allocator;

/// <summary>A Store was consumed while stacks it checked out were still out; the Store is left intact.</summary>
/// <remarks>This is the condition behind Wasmtime 28's <c>self.stacks.is_empty()</c> assertion, refused up front.</remarks>
public sealed class StacksCheckedOutException : InvalidOperationException
{
    /// <summary>Creates the exception listing who holds the stacks.</summary>
    public StacksCheckedOutException(IReadOnlyList<string> owners)
        : base($"Cannot consume the Store: {owners.Count} stack(s) are still checked out, held by: {string.Join(", ", owners)}. Return them (or finish/cancel their fibers) first.")
    {
        Owners = owners;
    }

    /// <summary>How many stacks are still checked out.</summary>
    public int Count => Owners.Count;

    /// <summary>The owner label given at each checkout, one per outstanding stack.</summary>
    public IReadOnlyList<string> Owners { get; }
}
