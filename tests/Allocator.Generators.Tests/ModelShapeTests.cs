using System.Collections;
using System.Reflection;
using Allocator.Generators.Helpers;
using Allocator.Generators.Model;
using Allocator.Generators.Tests.Support;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Tests;

/// <summary>Pipeline models must be plain equatable data: a symbol, syntax node or compilation inside one would keep
/// compilations alive and defeat caching.</summary>
public class ModelShapeTests
{
    private static readonly Type[] s_forbidden =
    {
        typeof(ISymbol), typeof(Compilation), typeof(SemanticModel), typeof(SyntaxNode), typeof(SyntaxTree),
        typeof(Location), typeof(AttributeData), typeof(IOperation),
    };

    private static readonly Type[] s_roots = { typeof(ParseResult<SlotLayoutModel>), typeof(ParseResult<PoolingConfigurationModel>) };

    [Fact]
    public void ModelTypesDeclareNoSymbolOrSyntaxFields()
    {
        var visited = new HashSet<Type>();
        var problems = new List<string>();
        foreach (Type root in s_roots)
        {
            WalkType(root, root.Name, visited, problems);
        }
        Assert.Empty(problems);
        // The walk really reached the nested models.
        Assert.Contains(typeof(SlotRegionModel), visited);
        Assert.Contains(typeof(OptionSetting), visited);
        Assert.Contains(typeof(LocationInfo), visited);
    }

    [Fact]
    public void ModelTypesAreEquatable()
    {
        Type[] models = typeof(SlotLayoutModel).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(SlotLayoutModel).Namespace && !t.IsEnum && !t.IsAbstract && !t.IsNested)
            .ToArray();
        Assert.NotEmpty(models);
        Assert.All(models, t => Assert.True(
            typeof(IEquatable<>).MakeGenericType(t.IsGenericTypeDefinition ? t.MakeGenericType(typeof(SlotLayoutModel)) : t)
                .IsAssignableFrom(t.IsGenericTypeDefinition ? t.MakeGenericType(typeof(SlotLayoutModel)) : t), t.Name));
    }

    [Fact]
    public void PipelineOutputsHoldNoSymbolOrSyntaxObjects()
    {
        GeneratorRun run = TestCompilation.Generate(Sources.Embedder, """
            using Allocator.Configuration;
            [SlotLayout, SlotRegion("A", Size = 3, GuardBytes = 5)]
            public struct Broken;
            """);
        object[] outputs = run.Result.Results.Single().TrackedSteps
            .Where(p => p.Key is "SlotLayouts" or "PoolingConfigurations")
            .SelectMany(p => p.Value).SelectMany(s => s.Outputs).Select(o => o.Value).ToArray();
        Assert.Equal(3, outputs.Length);
        var problems = new List<string>();
        foreach (object output in outputs)
        {
            WalkValue(output, output.GetType().Name, new HashSet<object>(ReferenceEqualityComparer.Instance), problems);
        }
        Assert.Empty(problems);
        // Diagnostics survive as data (the broken layout produced some).
        Assert.Contains(outputs, o => o is ParseResult<SlotLayoutModel> { Diagnostics.Count: > 0 });
    }

    [Fact]
    public void EqualInputsGiveEqualModels()
    {
        object[] first = LayoutOutputs();
        object[] second = LayoutOutputs();
        Assert.Equal(first, second);
        Assert.Equal(first.Select(o => o.GetHashCode()), second.Select(o => o.GetHashCode()));

        static object[] LayoutOutputs() => TestCompilation.Generate(Sources.Embedder).Result.Results.Single()
            .TrackedSteps["SlotLayouts"].SelectMany(s => s.Outputs).Select(o => o.Value).ToArray();
    }

    private static void WalkType(Type type, string path, HashSet<Type> visited, List<string> problems)
    {
        if (s_forbidden.Any(f => f.IsAssignableFrom(type)))
        {
            problems.Add($"{path}: {type}");
            return;
        }
        if (!visited.Add(type))
        {
            return;
        }
        if (type.IsGenericType)
        {
            foreach (Type argument in type.GetGenericArguments())
            {
                WalkType(argument, $"{path}<{argument.Name}>", visited, problems);
            }
        }
        if (type.IsArray)
        {
            WalkType(type.GetElementType()!, path + "[]", visited, problems);
        }
        // Only the generator's own types are opened up; framework types (string, TextSpan, DiagnosticDescriptor) are data.
        if (type.Assembly != typeof(SlotLayoutModel).Assembly)
        {
            return;
        }
        foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            WalkType(field.FieldType, $"{path}.{field.Name}", visited, problems);
        }
    }

    private static void WalkValue(object? value, string path, HashSet<object> visited, List<string> problems)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !visited.Add(value))
        {
            return;
        }
        if (s_forbidden.Any(f => f.IsInstanceOfType(value)))
        {
            problems.Add($"{path}: {value.GetType()}");
            return;
        }
        if (value is IEnumerable items)
        {
            int i = 0;
            foreach (object? item in items)
            {
                WalkValue(item, $"{path}[{i++}]", visited, problems);
            }
        }
        if (value.GetType().Assembly != typeof(SlotLayoutModel).Assembly)
        {
            return;
        }
        foreach (FieldInfo field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            WalkValue(field.GetValue(value), $"{path}.{field.Name}", visited, problems);
        }
    }
}
