using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>Recognizes the Allocator calls that take a stack (<c>Store&lt;T&gt;.CheckoutStack</c>, <c>Fiber.Create</c>,
/// <c>Fiber.RunAsync</c>), give it back, or consume a Store, and the variables they act on.</summary>
internal sealed class AllocatorSymbols
{
    private readonly INamedTypeSymbol _store;
    private readonly INamedTypeSymbol? _fiber;

    public AllocatorSymbols(INamedTypeSymbol store, INamedTypeSymbol stackToken, INamedTypeSymbol? fiber)
    {
        _store = store;
        StackToken = stackToken;
        _fiber = fiber;
    }

    public INamedTypeSymbol StackToken { get; }

    public bool IsStore(ITypeSymbol? type) =>
        type is INamedTypeSymbol named && SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, _store);

    public bool IsFiber(ITypeSymbol? type) => _fiber is not null && SymbolEqualityComparer.Default.Equals(type, _fiber);

    /// <summary>True for <c>store.Name(...)</c> where the receiver is a Store (also through an interface, e.g. Dispose).</summary>
    public bool IsCall(IInvocationOperation invocation, string name) =>
        invocation.TargetMethod.Name == name && IsStore(Unwrap(invocation.Instance)?.Type);

    /// <summary>True for <c>fiber.Name(...)</c> on a Fiber (also <c>((IDisposable)fiber).Dispose()</c>).</summary>
    public bool IsFiberCall(IInvocationOperation invocation, string name) =>
        invocation.TargetMethod.Name == name && IsFiber(Unwrap(invocation.Instance)?.Type);

    public bool IsCheckout(IOperation? operation) =>
        Unwrap(operation) is IInvocationOperation invocation && IsCall(invocation, "CheckoutStack");

    /// <summary>The store argument of <c>Fiber.Create(store, ...)</c>, or null when <paramref name="operation"/> is not
    /// such a call.</summary>
    public IOperation? FiberCreateStore(IOperation? operation) =>
        Unwrap(operation) is IInvocationOperation { TargetMethod: { Name: "Create", IsStatic: true } method } invocation
        && IsFiber(method.ContainingType) && invocation.Arguments.Length > 0
            ? invocation.Arguments[0].Value
            : null;

    /// <summary>The fiber expression of <c>fiber.RunAsync(...)</c> (also behind <c>.AsTask()</c>), or null when
    /// <paramref name="operation"/> does not start a run.</summary>
    public IOperation? RunStartFiber(IOperation? operation) =>
        BehindAsTask(operation) is IInvocationOperation invocation && IsFiberCall(invocation, "RunAsync") ? Unwrap(invocation.Instance) : null;

    /// <summary>The store expression of <c>store.RunFiberAsync(...)</c> (also behind <c>.AsTask()</c>), or null.</summary>
    public IOperation? ScopedRunStore(IOperation? operation) =>
        BehindAsTask(operation) is IInvocationOperation invocation && IsCall(invocation, "RunFiberAsync") ? Unwrap(invocation.Instance) : null;

    private static IOperation? BehindAsTask(IOperation? operation)
    {
        IOperation? value = Unwrap(operation);
        return value is IInvocationOperation { TargetMethod.Name: "AsTask", Arguments.Length: 0 } asTask ? Unwrap(asTask.Instance) : value;
    }

    /// <summary>The variable an expression reads: a local, a parameter, or a field or property of <c>this</c>
    /// (instance fields only for holders), or null when it is computed and so cannot be matched with another use.</summary>
    public static ISymbol? Variable(IOperation? operation) => Unwrap(operation) switch
    {
        ILocalReferenceOperation local => local.Local,
        IParameterReferenceOperation parameter => parameter.Parameter,
        IFieldReferenceOperation { Instance: null or IInstanceReferenceOperation } field => field.Field,
        IPropertyReferenceOperation { Instance: null or IInstanceReferenceOperation, Arguments.Length: 0 } property => property.Property,
        _ => null,
    };

    public static IOperation? Unwrap(IOperation? operation)
    {
        while (operation is IConversionOperation conversion)
        {
            operation = conversion.Operand;
        }
        return operation;
    }
}
