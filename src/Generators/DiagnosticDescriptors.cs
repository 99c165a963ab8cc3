using Microsoft.CodeAnalysis;

namespace Allocator.Generators;

/// <summary>Every diagnostic the generator and the analyzers report. Ids are tracked in AnalyzerReleases.*.md.</summary>
internal static class DiagnosticDescriptors
{
    private const string LayoutCategory = "Allocator.Layout";
    private const string ConfigurationCategory = "Allocator.Configuration";
    private const string UsageCategory = "Allocator.Usage";

    public static readonly DiagnosticDescriptor TypeNotPartial = new(
        "ALLOC001", "Type must be partial",
        "'{0}' must be declared partial (together with every type that contains it) to use [{1}]",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPageMultiple = new(
        "ALLOC002", "Size is not a multiple of the page size",
        "{0} is {1} bytes, which is not a multiple of the {2}-byte page size",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RegionsOverlap = new(
        "ALLOC003", "Slot regions overlap",
        "{0} [{1}, {2}) overlaps {3} [{4}, {5})",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RegionMisaligned = new(
        "ALLOC004", "Slot region is misaligned",
        "Region '{0}' is misaligned: {1}",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidAlignment = new(
        "ALLOC005", "Invalid alignment",
        "Alignment of region '{0}' is {1}; it must be a power of two from 1 to {2}",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor CountOutOfRange = new(
        "ALLOC006", "Count is zero or out of range",
        "{0} is {1}; it must be from {2} to {3}",
        ConfigurationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor SizeOutOfRange = new(
        "ALLOC007", "Size is zero or out of range",
        "{0} is {1}; it must be from {2} to {3} bytes",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ReservationTooLarge = new(
        "ALLOC008", "Reservation exceeds the allocator limit",
        "{0} would reserve {1} bytes, more than the {2} bytes all pools of one allocator may reserve together",
        ConfigurationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RegionTypeNotUnmanaged = new(
        "ALLOC009", "Region type must be unmanaged",
        "Region '{0}' has type '{1}', which is not an unmanaged type; slot memory is not tracked by the GC",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RegionTypeSizeUnknown = new(
        "ALLOC010", "Region type size is not known at compile time",
        "The size of '{1}' (region '{0}') cannot be computed at compile time ({2}); set Size explicitly",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RegionSmallerThanType = new(
        "ALLOC011", "Region is smaller than its contents",
        "Region '{0}' is {1} bytes, smaller than the {2} bytes its {3} needs",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidRegionName = new(
        "ALLOC012", "Invalid region name",
        "Region name '{0}' {1}",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor KeepResidentTooLarge = new(
        "ALLOC013", "Keep-resident size exceeds the slot size",
        "{0} is {1} bytes, more than {2} ({3} bytes)",
        ConfigurationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor EmptyLayout = new(
        "ALLOC014", "Slot layout declares no regions",
        "Slot layout '{0}' declares no [SlotRegion]; its slot is one empty page",
        LayoutCategory, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotASlotLayout = new(
        "ALLOC015", "Type is not a slot layout",
        "{0} is '{1}', which has no [SlotLayout] attribute",
        ConfigurationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ConflictingSettings = new(
        "ALLOC016", "Conflicting settings",
        "Set either {0} or {1}, not both",
        ConfigurationCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor SlotSizeTooSmall = new(
        "ALLOC017", "Slot size is smaller than the regions need",
        "SlotSize of '{0}' is {1} bytes, but its regions and guards need {2} bytes",
        LayoutCategory, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor IntoDataWhileStackHeld = new(
        "ALLOC100", "Store consumed while a stack may still be held",
        "IntoData() is called on '{0}' while {1} on some path; {2} first (IntoData throws StacksCheckedOutException)",
        UsageCategory, DiagnosticSeverity.Warning, isEnabledByDefault: true,
        description: "A Store cannot be consumed while it has stacks out: a stack token not yet returned, a fiber not yet disposed or run to its end, or a run (fiber.RunAsync()) not yet awaited. Give each back before calling IntoData, or use store.RunFiberAsync, which cannot leave a stack out.");

    public static readonly DiagnosticDescriptor StackTokenNotReturned = new(
        "ALLOC101", "Stack token is not returned",
        "Stack token '{0}' is not returned on every path and does not escape; call ReturnStack or TryReturnStack (for example in a finally block)",
        UsageCategory, DiagnosticSeverity.Warning, isEnabledByDefault: true,
        description: "A token that leaves the method without being returned, stored, passed on or returned keeps its stack checked out until the Store is disposed, and makes IntoData throw.");

    public static readonly DiagnosticDescriptor StackTokenDiscarded = new(
        "ALLOC102", "Stack token is discarded",
        "The StackToken returned by CheckoutStack is discarded, so the stack can never be returned",
        UsageCategory, DiagnosticSeverity.Warning, isEnabledByDefault: true);
}
