namespace Allocator;

/// <summary>Something running on a stack checked out of a Store, e.g. a fiber.</summary>
/// <remarks>When the Store is disposed it asks each holder to stop using its stack instead of pulling the stack
/// out from under live frames.</remarks>
public interface IStackHolder
{
    /// <summary>Name reported in <see cref="StacksCheckedOutException.Owners"/>.</summary>
    string Name { get; }

    /// <summary>Unwind or cancel whatever runs on the stack, then return the stack's token to the Store.</summary>
    void ReleaseStack();
}
