using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>Recognizes calls to <c>Allocator.Store&lt;T&gt;</c> members and the stores they act on.</summary>
internal sealed class StoreSymbols
{
    private readonly INamedTypeSymbol _store;

    public StoreSymbols(INamedTypeSymbol store, INamedTypeSymbol stackToken)
    {
        _store = store;
        StackToken = stackToken;
    }

    public INamedTypeSymbol StackToken { get; }

    public bool IsStore(ITypeSymbol? type) =>
        type is INamedTypeSymbol named && SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, _store);

    /// <summary>True for <c>store.Name(...)</c> where the receiver is a Store (also through an interface, e.g. Dispose).</summary>
    public bool IsCall(IInvocationOperation invocation, string name) =>
        invocation.TargetMethod.Name == name && IsStore(Unwrap(invocation.Instance)?.Type);

    public bool IsCheckout(IOperation? operation) =>
        Unwrap(operation) is IInvocationOperation invocation && IsCall(invocation, "CheckoutStack");

    /// <summary>The variable a store expression reads (local, parameter, field or property of this), or null when it
    /// is computed and so cannot be matched with another use.</summary>
    public static ISymbol? StoreVariable(IOperation? receiver) => Unwrap(receiver) switch
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
