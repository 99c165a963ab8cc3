using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>How one operation changes the set of holders that may still hold a stack (a bit per holder).</summary>
/// <remarks>
/// <para>Taking: <c>t = store.CheckoutStack(...)</c>, <c>f = Fiber.Create(store, ...)</c>, <c>run = f.RunAsync()</c>,
/// <c>run = store.RunFiberAsync(...)</c>.
/// Giving back: <c>ReturnStack</c>/<c>TryReturnStack</c> for a token; <c>f.Dispose()</c>, <c>f.Cancel()</c> (explicit or
/// <c>using</c>) or awaiting <c>f.RunAsync()</c> for a fiber; awaiting (or otherwise consuming) the run for a run;
/// disposing the Store for all of them. A fiber and its runs are given back together.</para>
/// <para>Escape (ownership moves where this method cannot see, so tracking ends): passed to another method or
/// constructor, returned, stored anywhere else, captured by a nested function; for a run, any use but reading
/// <c>IsCompleted</c>-style properties. A call that may reach the fields of <c>this</c> (an instance method of this
/// type, a local function, a delegate, or <c>this</c> passed on) ends the tracking of fields. Reads
/// (<c>t.IsValid</c>, <c>f.State</c>, comparisons, null checks, <c>store.GetStackBounds(t)</c>) change nothing.</para>
/// </remarks>
internal sealed class StackHolderTransfer
{
    private readonly AllocatorSymbols _symbols;
    private readonly TrackedHolders _holders;
    private readonly Action<IInvocationOperation, int, ulong>? _onIntoDataWhileHeld;

    /// <param name="onIntoDataWhileHeld">Told each IntoData call, the index of a holder of that store that may still
    /// hold a stack there, and the state at the call.</param>
    public StackHolderTransfer(AllocatorSymbols symbols, TrackedHolders holders, Action<IInvocationOperation, int, ulong>? onIntoDataWhileHeld)
    {
        _symbols = symbols;
        _holders = holders;
        _onIntoDataWhileHeld = onIntoDataWhileHeld;
    }

    private enum RunFate { Awaited, Stored, Dropped, Escaped }

    /// <summary>Runs <paramref name="root"/> (children first, as they evaluate) from <paramref name="state"/>;
    /// <paramref name="seen"/> collects the state before each operation that may throw, which is what an exception
    /// handler may observe. (So in <c>try { await fiber.RunAsync(); } catch { }</c> the catch sees the fiber given
    /// back: the run has ended, one way or the other, by the time its exception arrives.)</summary>
    public ulong Apply(IOperation root, ulong state, ref ulong seen)
    {
        foreach (IOperation child in root.ChildOperations)
        {
            state = Apply(child, state, ref seen);
        }
        if (MayThrow(root))
        {
            seen |= state;
        }
        return Visit(root, state);
    }

    /// <summary>False only for operations that cannot raise an exception themselves (their operands are visited first).</summary>
    private static bool MayThrow(IOperation operation) => operation switch
    {
        ILocalReferenceOperation or IParameterReferenceOperation or IInstanceReferenceOperation or ILiteralOperation
            or IDefaultValueOperation or IDiscardOperation or ITypeOfOperation or IIsNullOperation
            or IFlowCaptureOperation or IFlowCaptureReferenceOperation or IExpressionStatementOperation => false,
        IFieldReferenceOperation { Instance: null or IInstanceReferenceOperation } => false,
        ISimpleAssignmentOperation { Target: ILocalReferenceOperation or IParameterReferenceOperation or IDiscardOperation } => false,
        IConversionOperation { Conversion.IsImplicit: true } => false,
        _ => true,
    };

    private ulong Visit(IOperation operation, ulong state)
    {
        switch (operation)
        {
            case IInvocationOperation invocation:
                return VisitInvocation(invocation, state);

            case ISimpleAssignmentOperation assignment when _holders.IndexOfReference(assignment.Target) is var assigned and >= 0:
                return Takes(_holders.Holders[assigned].Kind, assignment.Value) ? state | TrackedHolders.Bit(assigned) : state & ~TrackedHolders.Bit(assigned);

            case ILocalReferenceOperation or IParameterReferenceOperation or IFieldReferenceOperation
                when _holders.IndexOfReference(operation) is var used and >= 0:
                return Use(operation, used, state);

            default:
                return state;
        }
    }

    private bool Takes(HolderKind kind, IOperation value) => kind switch
    {
        HolderKind.Token => _symbols.IsCheckout(value),
        HolderKind.Fiber => _symbols.FiberCreateStore(value) is not null,
        _ => _symbols.RunStartFiber(value) is not null || _symbols.ScopedRunStore(value) is not null,
    };

    private ulong VisitInvocation(IInvocationOperation invocation, ulong state)
    {
        if (_holders.FieldMask != 0 && MayReachFields(invocation))
        {
            state &= ~_holders.FieldMask;
        }
        if (_symbols.IsCall(invocation, "ReturnStack") || _symbols.IsCall(invocation, "TryReturnStack"))
        {
            if (invocation.Arguments.Length > 0 && _holders.IndexOfReference(invocation.Arguments[0].Value) is var returned and >= 0)
            {
                state &= ~TrackedHolders.Bit(returned);
            }
        }
        else if (_symbols.IsCall(invocation, "IntoData"))
        {
            if (_onIntoDataWhileHeld is not null && _holders.ResolveStore(invocation.Instance) is { } consumed)
            {
                for (int i = 0; i < _holders.Count; i++)
                {
                    if ((state & TrackedHolders.Bit(i)) != 0 && _holders.Holders[i].Stores.Contains(consumed))
                    {
                        _onIntoDataWhileHeld(invocation, i, state);
                    }
                }
            }
        }
        else if (_symbols.IsCall(invocation, "Dispose") && _holders.ResolveStore(invocation.Instance) is { } disposed)
        {
            // Dispose returns every stack of the store, unwinding its fibers first.
            state &= ~HoldersOf(disposed);
        }
        return state;
    }

    /// <summary>Whether a call may read or change the fields of <c>this</c>.</summary>
    private static bool MayReachFields(IInvocationOperation invocation)
    {
        if (invocation.Instance is IInstanceReferenceOperation
            || invocation.TargetMethod.MethodKind is MethodKind.LocalFunction or MethodKind.DelegateInvoke)
        {
            return true;
        }
        foreach (IArgumentOperation argument in invocation.Arguments)
        {
            if (AllocatorSymbols.Unwrap(argument.Value) is IInstanceReferenceOperation)
            {
                return true;
            }
        }
        return false;
    }

    private ulong Use(IOperation reference, int index, ulong state)
    {
        IOperation current = reference;
        IOperation? parent = current.Parent;
        while (parent is IConversionOperation)
        {
            current = parent;
            parent = parent.Parent;
        }
        if (parent is ISimpleAssignmentOperation assignment && ReferenceEquals(assignment.Target, current))
        {
            return state; // a write: the assignment decides
        }
        ulong family = _holders.Family(index);
        return _holders.Holders[index].Kind switch
        {
            HolderKind.Token => TokenEscapes(current, parent) ? state & ~TrackedHolders.Bit(index) : state,
            HolderKind.Fiber => FiberUse(current, parent, state, family),
            _ => IsRunRead(current, parent) ? state : state & ~family,
        };
    }

    private ulong FiberUse(IOperation current, IOperation? parent, ulong state, ulong family)
    {
        switch (parent)
        {
            case IInvocationOperation invocation when ReferenceEquals(invocation.Instance, current):
                return invocation.TargetMethod.Name switch
                {
                    "Dispose" or "Cancel" => state & ~family,
                    // Awaited at once: done. Kept in a tracked run, or dropped while it runs: still held.
                    "RunAsync" => Fate(invocation) is RunFate.Stored or RunFate.Dropped ? state : state & ~family,
                    _ => state,
                };
            case IPropertyReferenceOperation property when ReferenceEquals(property.Instance, current):
            case IIsNullOperation or IBinaryOperation or IIsPatternOperation or IIsTypeOperation or IExpressionStatementOperation:
                return state;
            default:
                return state & ~family;
        }
    }

    /// <summary>What happens to the task <c>fiber.RunAsync()</c> returns (seen through <c>AsTask</c>,
    /// <c>ConfigureAwait</c> and <c>Preserve</c>).</summary>
    private RunFate Fate(IInvocationOperation run)
    {
        IOperation current = run;
        IOperation? parent = run.Parent;
        while (parent is IConversionOperation
            || (parent is IInvocationOperation { TargetMethod.Name: "AsTask" or "ConfigureAwait" or "Preserve" } wrapper && ReferenceEquals(wrapper.Instance, current)))
        {
            current = parent;
            parent = parent.Parent;
        }
        return parent switch
        {
            IAwaitOperation => RunFate.Awaited,
            ISimpleAssignmentOperation { Target: IDiscardOperation } => RunFate.Dropped,
            ISimpleAssignmentOperation assignment when ReferenceEquals(assignment.Value, current)
                && _holders.IndexOfReference(assignment.Target) is var target and >= 0 && _holders.Holders[target].Kind == HolderKind.Run => RunFate.Stored,
            IExpressionStatementOperation => RunFate.Dropped,
            _ => RunFate.Escaped,
        };
    }

    /// <summary>Reads of a run that leave it running: <c>IsCompleted</c>-style properties and null checks.</summary>
    private static bool IsRunRead(IOperation current, IOperation? parent) => parent switch
    {
        IPropertyReferenceOperation { Property.Name: "IsCompleted" or "IsCompletedSuccessfully" or "IsFaulted" or "IsCanceled" } property
            => ReferenceEquals(property.Instance, current),
        IIsNullOperation or IExpressionStatementOperation => true,
        _ => false,
    };

    private bool TokenEscapes(IOperation current, IOperation? parent) => parent switch
    {
        IArgumentOperation { Parent: IInvocationOperation invocation } =>
            !(_symbols.IsCall(invocation, "ReturnStack") || _symbols.IsCall(invocation, "TryReturnStack") || _symbols.IsCall(invocation, "GetStackBounds")),
        IInvocationOperation invocation => !ReferenceEquals(invocation.Instance, current),
        IPropertyReferenceOperation property => !ReferenceEquals(property.Instance, current),
        IFieldReferenceOperation field => !ReferenceEquals(field.Instance, current),
        IBinaryOperation or IIsPatternOperation or IIsTypeOperation or IExpressionStatementOperation => false,
        _ => true,
    };

    /// <summary>Refines the state along one branch: where the compiler tests a store or a holder for null (the
    /// Dispose at the end of a <c>using</c>, <c>x?.M()</c>), the null side holds nothing through it.</summary>
    public ulong AlongBranch(BasicBlock source, ControlFlowBranch branch, ulong state)
    {
        if (source.BranchValue is not IIsNullOperation isNull)
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
        if (_holders.IndexOfReference(isNull.Operand) is var holder and >= 0)
        {
            return state & ~TrackedHolders.Bit(holder);
        }
        return _holders.ResolveStore(isNull.Operand) is { } store ? state & ~HoldersOf(store) : state;
    }

    private ulong HoldersOf(ISymbol store)
    {
        ulong bits = 0;
        for (int i = 0; i < _holders.Count; i++)
        {
            if (_holders.Holders[i].Stores.Contains(store))
            {
                bits |= TrackedHolders.Bit(i);
            }
        }
        return bits;
    }
}
