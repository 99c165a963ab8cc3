using System.Runtime.InteropServices;

namespace Allocator.Sample.Aot;

/// <summary>The native guest, libSampleGuest.so, shipped next to the executable.</summary>
internal static class SampleGuest
{
    public const int ReadInput = 0;
    public const int Emit = 1;

    private static readonly nint s_library = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libSampleGuest.so"));

    /// <summary>Address of <c>sample_handle_request</c>.</summary>
    public static nint HandleRequest { get; } = NativeLibrary.GetExport(s_library, "sample_handle_request");

    /// <summary>The entry's argument: request id in the high bits, number of inputs in the low 8.</summary>
    public static nint Argument(int request, int inputs) => ((nint)request << 8) | (nint)inputs;
}
