using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>How one operation changes the set of tokens that may still be checked out (a bit per token).</summary>
/// <remarks>
/// A token is held after <c>t = store.CheckoutStack(...)</c> and stops being tracked when it is returned
/// (<c>ReturnStack</c>/<c>TryReturnStack</c>), when its store is disposed, when the local is overwritten, or when it
/// escapes. Escape means ownership moves somewhere this method cannot see: the token is passed to any other method or
/// constructor, returned, stored anywhere (field, property, array, another local, a tuple), or captured by a lambda or
/// local function. Reading it (<c>t.IsValid</c>, <c>t.StoreId</c>, comparisons, <c>store.GetStackBounds(t)</c>) is not an escape.
/// </remarks>
internal sealed class StackTokenTransfer
{
    private readonly StoreSymbols _symbols;
    private readonly TrackedTokens _tokens;
    private readonly Action<IInvocationOperation, TrackedToken>? _onIntoDataWhileHeld;

    public StackTokenTransfer(StoreSymbols symbols, TrackedTokens tokens, Action<IInvocationOperation, TrackedToken>? onIntoDataWhileHeld)
    {
        _symbols = symbols;
        _tokens = tokens;
        _onIntoDataWhileHeld = onIntoDataWhileHeld;
    }

    /// <summary>Runs <paramref name="root"/> (children first, as they evaluate) from <paramref name="state"/>;
    /// <paramref name="seen"/> collects every intermediate state, which is what an exception handler may observe.</summary>
    public ulong Apply(IOperation root, ulong state, ref ulong seen)
    {
        foreach (IOperation child in root.ChildOperations)
        {
            state = Apply(child, state, ref seen);
        }
        state = Visit(root, state);
        seen |= state;
        return state;
    }

    private ulong Visit(IOperation operation, ulong state)
    {
        switch (operation)
        {
            case IInvocationOperation invocation when _symbols.IsCall(invocation, "ReturnStack") || _symbols.IsCall(invocation, "TryReturnStack"):
                if (invocation.Arguments.Length > 0 && TokenIndex(invocation.Arguments[0].Value) is var returned and >= 0)
                {
                    state &= ~Bit(returned);
                }
                return state;

            case IInvocationOperation invocation when _symbols.IsCall(invocation, "IntoData"):
                if (_onIntoDataWhileHeld is not null && StoreSymbols.StoreVariable(invocation.Instance) is { } consumed)
                {
                    ForEachHeld(state, token =>
                    {
                        if (token.Stores.Contains(consumed))
                        {
                            _onIntoDataWhileHeld(invocation, token);
                        }
                    });
                }
                return state;

            case IInvocationOperation invocation when _symbols.IsCall(invocation, "Dispose"):
                // Dispose returns every stack of the store.
                if (StoreSymbols.StoreVariable(invocation.Instance) is { } disposed)
                {
                    ulong kept = state;
                    ForEachHeld(state, token =>
                    {
                        if (token.Stores.Contains(disposed))
                        {
                            kept &= ~Bit(_tokens.IndexOf(token.Local));
                        }
                    });
                    state = kept;
                }
                return state;

            case ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } assignment when _tokens.IndexOf(target.Local) is var assigned and >= 0:
                return _symbols.IsCheckout(assignment.Value) ? state | Bit(assigned) : state & ~Bit(assigned);

            case ILocalReferenceOperation reference when _tokens.IndexOf(reference.Local) is var used and >= 0:
                return Escapes(reference) ? state & ~Bit(used) : state;

            default:
                return state;
        }
    }

    /// <summary>Refines the state along one branch: where the compiler tests a store for null (the Dispose at the
    /// end of a using, <c>store?.M()</c>), the null side holds nothing from that store.</summary>
    public ulong AlongBranch(BasicBlock source, ControlFlowBranch branch, ulong state)
    {
        if (source.BranchValue is not IIsNullOperation isNull || StoreSymbols.StoreVariable(isNull.Operand) is not { } store)
        {
            return state;
        }
        ControlFlowBranch? nullSide = source.ConditionKind == ControlFlowConditionKind.WhenTrue
            ? source.ConditionalSuccessor
            : source.FallThroughSuccessor;
        if (!ReferenceEquals(branch, nullSide))
        {
            return state;
        }
        ulong kept = state;
        ForEachHeld(state, token =>
        {
            if (token.Stores.Contains(store))
            {
                kept &= ~Bit(_tokens.IndexOf(token.Local));
            }
        });
        return kept;
    }

    private bool Escapes(ILocalReferenceOperation reference)
    {
        IOperation current = reference;
        IOperation? parent = current.Parent;
        while (parent is IConversionOperation)
        {
            current = parent;
            parent = parent.Parent;
        }
        return parent switch
        {
            ISimpleAssignmentOperation assignment => !ReferenceEquals(assignment.Target, current),
            IArgumentOperation { Parent: IInvocationOperation invocation } =>
                !(_symbols.IsCall(invocation, "ReturnStack") || _symbols.IsCall(invocation, "TryReturnStack") || _symbols.IsCall(invocation, "GetStackBounds")),
            IInvocationOperation invocation => !ReferenceEquals(invocation.Instance, current),
            IPropertyReferenceOperation property => !ReferenceEquals(property.Instance, current),
            IFieldReferenceOperation field => !ReferenceEquals(field.Instance, current),
            IBinaryOperation or IIsPatternOperation or IIsTypeOperation or IExpressionStatementOperation => false,
            _ => true,
        };
    }

    private int TokenIndex(IOperation value) =>
        StoreSymbols.Unwrap(value) is ILocalReferenceOperation local ? _tokens.IndexOf(local.Local) : -1;

    private void ForEachHeld(ulong state, Action<TrackedToken> action)
    {
        for (int i = 0; i < _tokens.Count; i++)
        {
            if ((state & Bit(i)) != 0)
            {
                action(_tokens.Tokens[i]);
            }
        }
    }

    public static ulong Bit(int index) => 1UL << index;
}
