using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>A native guest library built by the package's <c>AllocatorGuest</c> item (or any shared library of
/// guest code), loaded by its plain name with the platform's naming: <c>Load("Guest")</c> opens <c>libGuest.so</c> on
/// Linux, <c>Guest.dll</c> on Windows and <c>libGuest.dylib</c> on macOS.</summary>
/// <remarks>The fiber library (libAllocatorNative) is loaded first, the way the runtime resolves this assembly's own
/// imports, so a guest linked against it finds it even when it sits in <c>runtimes/&lt;rid&gt;/native</c> rather than
/// beside the guest. A guest library is never unloaded: a fiber may still be suspended in its code.</remarks>
public sealed class GuestLibrary
{
    private const string AllocatorNative = "AllocatorNative";

    private GuestLibrary(string name, string path, nint handle)
    {
        Name = name;
        Path = path;
        Handle = handle;
    }

    /// <summary>The plain name it was loaded by, e.g. <c>Guest</c>.</summary>
    public string Name { get; }

    /// <summary>The file that was loaded.</summary>
    public string Path { get; }

    /// <summary>The OS handle of the library.</summary>
    public nint Handle { get; }

    /// <summary>The file name of guest library <paramref name="name"/> on this platform.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or holds a directory separator.</exception>
    public static string GetFileName(string name) => GetFileName(name, OperatingSystem.IsWindows(), OperatingSystem.IsMacOS());

    /// <summary>The naming rule for a given platform, so every platform's names are tested on any of them.</summary>
    internal static string GetFileName(string name, bool windows, bool macOS)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.IndexOfAny(['/', '\\']) >= 0)
        {
            throw new ArgumentException($"'{name}' is a path; pass the library's plain name, such as 'Guest' for libGuest.so.", nameof(name));
        }
        return windows ? name + ".dll"
            : macOS ? "lib" + name + ".dylib"
            : "lib" + name + ".so";
    }

    /// <summary>Loads guest library <paramref name="name"/> from <paramref name="directory"/> (default: the app's
    /// base directory, where the <c>AllocatorGuest</c> build puts it).</summary>
    /// <exception cref="DllNotFoundException">The file is missing or cannot be loaded (the message says which file
    /// and why, e.g. an unresolved symbol).</exception>
    public static GuestLibrary Load(string name, string? directory = null)
    {
        string path = System.IO.Path.Combine(directory ?? AppContext.BaseDirectory, GetFileName(name));
        EnsureFiberLibraryLoaded();
        if (!File.Exists(path))
        {
            throw new DllNotFoundException($"Guest library '{name}' not found at {path}. Build it with <AllocatorGuest Include=\"...\" /> items (AllocatorGuestName={name}), or pass the directory it is in.");
        }
        try
        {
            return new GuestLibrary(name, path, NativeLibrary.Load(path));
        }
        catch (DllNotFoundException ex)
        {
            throw new DllNotFoundException($"Guest library '{name}' at {path} could not be loaded: {ex.Message}", ex);
        }
    }

    /// <summary>The address of exported function <paramref name="symbol"/>, e.g. a fiber entry for
    /// <see cref="Fiber.Create"/>.</summary>
    /// <exception cref="EntryPointNotFoundException">The library exports no such symbol.</exception>
    public nint GetExport(string symbol)
    {
        ArgumentException.ThrowIfNullOrEmpty(symbol);
        if (!NativeLibrary.TryGetExport(Handle, symbol, out nint address))
        {
            throw new EntryPointNotFoundException($"Guest library '{Name}' ({Path}) exports no '{symbol}'. Guest entries need default visibility (__attribute__((visibility(\"default\"))) or __declspec(dllexport)).");
        }
        return address;
    }

    /// <inheritdoc />
    public override string ToString() => $"GuestLibrary({Name}, {Path})";

    private static void EnsureFiberLibraryLoaded()
    {
        // Same resolution as the assembly's [LibraryImport("AllocatorNative")]: deps.json native assets, then the
        // app directory. Loading an already-loaded library only adds a reference.
        if (!NativeLibrary.TryLoad(AllocatorNative, typeof(GuestLibrary).Assembly, null, out _))
        {
            throw new DllNotFoundException($"The fiber library {GetFileName(AllocatorNative)} was not found for {RuntimeInformation.RuntimeIdentifier}; the Allocator package ships it under runtimes/<rid>/native for the platforms fibers run on.");
        }
    }
}
