using System.Text;
using Allocator.Generators.Model;
using Allocator.Generators.PoolingConfiguration;
using Allocator.Generators.SlotLayout;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Allocator.Generators;

/// <summary>Generates slot layouts ([SlotLayout] structs) and pool factories ([PoolingConfiguration] classes).</summary>
/// <remarks>Each pipeline turns symbols into equatable models right away, so an edit that does not change a model
/// leaves its output cached.</remarks>
[Generator(LanguageNames.CSharp)]
public sealed class AllocatorGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ParseResult<SlotLayoutModel>> layouts = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownNames.SlotLayoutAttribute,
                static (node, _) => node is StructDeclarationSyntax || node.IsKind(SyntaxKind.RecordStructDeclaration),
                static (ctx, ct) => SlotLayoutParser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.SlotLayouts);

        IncrementalValuesProvider<ParseResult<PoolingConfigurationModel>> configurations = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownNames.PoolingConfigurationAttribute,
                static (node, _) => node is ClassDeclarationSyntax || node.IsKind(SyntaxKind.RecordDeclaration),
                static (ctx, ct) => PoolingConfigurationParser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.PoolingConfigurations);

        context.RegisterSourceOutput(layouts, static (spc, result) =>
        {
            Report(spc, result.Diagnostics);
            if (result.Model is { } model)
            {
                spc.AddSource(model.Target.HintName + ".SlotLayout.g.cs", SourceText.From(SlotLayoutEmitter.Emit(model), Encoding.UTF8));
            }
        });

        context.RegisterSourceOutput(configurations, static (spc, result) =>
        {
            Report(spc, result.Diagnostics);
            if (result.Model is { } model)
            {
                spc.AddSource(model.Target.HintName + ".PoolingConfiguration.g.cs", SourceText.From(PoolingConfigurationEmitter.Emit(model), Encoding.UTF8));
            }
        });
    }

    private static void Report(SourceProductionContext context, Helpers.EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (DiagnosticInfo diagnostic in diagnostics)
        {
            context.ReportDiagnostic(diagnostic.ToDiagnostic());
        }
    }
}
