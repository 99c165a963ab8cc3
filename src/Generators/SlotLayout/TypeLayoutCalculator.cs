using System;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.SlotLayout;

/// <summary>Computes the size and alignment of an unmanaged type the way the runtime lays it out on a 64-bit target.</summary>
/// <remarks>
/// Handles primitives, enums, pointers, fixed buffers, [InlineArray] and structs declared in source with sequential or
/// explicit layout. Types from referenced assemblies do not expose their layout kind through the symbol API, so they
/// are <see cref="TypeLayoutKind.Unknown"/> and need an explicit region Size. The generated code re-checks
/// <c>Unsafe.SizeOf&lt;T&gt;()</c> at run time, so a wrong guess here fails loudly instead of corrupting memory.
/// </remarks>
internal static class TypeLayoutCalculator
{
    private const int PointerSize = 8;
    private const int LayoutSequential = 0;
    private const int LayoutExplicit = 2;
    private const int LayoutAuto = 3;

    public static TypeLayout Compute(ITypeSymbol type) => Compute(type, depth: 0);

    private static TypeLayout Compute(ITypeSymbol type, int depth)
    {
        if (depth > 64)
        {
            return TypeLayout.Unknown("the type nests too deeply");
        }
        switch (type.SpecialType)
        {
            case SpecialType.System_Boolean:
            case SpecialType.System_Byte:
            case SpecialType.System_SByte:
                return TypeLayout.Of(1, 1);
            case SpecialType.System_Char:
            case SpecialType.System_Int16:
            case SpecialType.System_UInt16:
                return TypeLayout.Of(2, 2);
            case SpecialType.System_Int32:
            case SpecialType.System_UInt32:
            case SpecialType.System_Single:
                return TypeLayout.Of(4, 4);
            case SpecialType.System_Int64:
            case SpecialType.System_UInt64:
            case SpecialType.System_Double:
                return TypeLayout.Of(8, 8);
            case SpecialType.System_IntPtr:
            case SpecialType.System_UIntPtr:
                return TypeLayout.Of(PointerSize, PointerSize);
            case SpecialType.System_Decimal:
                return TypeLayout.Of(16, 8);
        }
        switch (type)
        {
            case IPointerTypeSymbol:
            case IFunctionPointerTypeSymbol:
                return TypeLayout.Of(PointerSize, PointerSize);
            case INamedTypeSymbol { TypeKind: TypeKind.Enum, EnumUnderlyingType: { } underlying }:
                return Compute(underlying, depth + 1);
        }
        if (!type.IsUnmanagedType)
        {
            return TypeLayout.NotUnmanaged;
        }
        if (type is not INamedTypeSymbol { TypeKind: TypeKind.Struct } structType)
        {
            return TypeLayout.Unknown("it is not a struct");
        }
        if (structType.DeclaringSyntaxReferences.Length == 0)
        {
            return TypeLayout.Unknown("it is declared in another assembly, whose layout is not visible to the generator");
        }
        return ComputeStruct(structType, depth);
    }

    private static TypeLayout ComputeStruct(INamedTypeSymbol type, int depth)
    {
        int layoutKind = LayoutSequential;
        int pack = 0;
        long minimumSize = 0;
        int inlineLength = 0;
        foreach (AttributeData attribute in type.GetAttributes())
        {
            string? name = attribute.AttributeClass?.ToDisplayString();
            if (name == "System.Runtime.InteropServices.StructLayoutAttribute" && attribute.ConstructorArguments.Length == 1)
            {
                layoutKind = Convert.ToInt32(attribute.ConstructorArguments[0].Value);
                foreach (var named in attribute.NamedArguments)
                {
                    if (named.Key == "Pack")
                    {
                        pack = Convert.ToInt32(named.Value.Value);
                    }
                    else if (named.Key == "Size")
                    {
                        minimumSize = Convert.ToInt64(named.Value.Value);
                    }
                }
            }
            else if (name == "System.Runtime.CompilerServices.InlineArrayAttribute" && attribute.ConstructorArguments.Length == 1)
            {
                inlineLength = Convert.ToInt32(attribute.ConstructorArguments[0].Value);
            }
        }
        if (layoutKind == LayoutAuto)
        {
            return TypeLayout.Unknown("it has LayoutKind.Auto");
        }

        IFieldSymbol[] fields = type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic && !f.IsConst).ToArray();
        long size = 0;
        int alignment = 1;
        foreach (IFieldSymbol field in fields)
        {
            TypeLayout fieldLayout = FieldLayout(field, depth);
            if (fieldLayout.Kind != TypeLayoutKind.Known)
            {
                return fieldLayout;
            }
            int fieldAlignment = pack > 0 ? Math.Min(fieldLayout.Alignment, pack) : fieldLayout.Alignment;
            long offset;
            if (layoutKind == LayoutExplicit)
            {
                if (ExplicitOffset(field) is not { } explicitOffset)
                {
                    return TypeLayout.Unknown($"field '{field.Name}' has no [FieldOffset]");
                }
                offset = explicitOffset;
            }
            else
            {
                offset = AlignUp(size, fieldAlignment);
            }
            size = Math.Max(size, offset + fieldLayout.Size);
            alignment = Math.Max(alignment, fieldAlignment);
        }
        if (inlineLength > 0)
        {
            size *= inlineLength;
        }
        // The runtime rounds a struct up to its alignment, gives an empty struct one byte and honours StructLayout.Size.
        size = Math.Max(Math.Max(AlignUp(size, alignment), 1), minimumSize);
        return TypeLayout.Of(size, alignment);
    }

    private static TypeLayout FieldLayout(IFieldSymbol field, int depth)
    {
        if (field.IsFixedSizeBuffer && field.Type is IPointerTypeSymbol pointer)
        {
            TypeLayout element = Compute(pointer.PointedAtType, depth + 1);
            return element.Kind == TypeLayoutKind.Known ? TypeLayout.Of(element.Size * field.FixedSize, element.Alignment) : element;
        }
        return Compute(field.Type, depth + 1);
    }

    private static long? ExplicitOffset(IFieldSymbol field)
    {
        foreach (AttributeData attribute in field.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == "System.Runtime.InteropServices.FieldOffsetAttribute"
                && attribute.ConstructorArguments.Length == 1)
            {
                return Convert.ToInt64(attribute.ConstructorArguments[0].Value);
            }
        }
        return null;
    }

    private static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;
}
