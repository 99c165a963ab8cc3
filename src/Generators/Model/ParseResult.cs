using Allocator.Generators.Helpers;

namespace Allocator.Generators.Model;

/// <summary>What a parser produced for one attributed type: a model to emit (null when an error stops emission)
/// and the diagnostics to report.</summary>
internal sealed record ParseResult<TModel>(TModel? Model, EquatableArray<DiagnosticInfo> Diagnostics)
    where TModel : class;
