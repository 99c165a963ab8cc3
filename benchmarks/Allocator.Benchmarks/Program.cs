using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Allocator.Benchmarks -- --filter '*'
// Medians and ratios are what to read: the machines are 2 cores and noisy.
IConfig config = DefaultConfig.Instance
    .AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(15))
    .AddColumn(StatisticColumn.Median, StatisticColumn.P95)
    .AddExporter(CsvMeasurementsExporter.Default)
    .WithSummaryStyle(BenchmarkDotNet.Reports.SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend));
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
