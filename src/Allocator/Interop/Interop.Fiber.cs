using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Fibers;

namespace Allocator;

internal static partial class Interop
{
    /// <summary>Imports of libAllocatorNative's fiber API (<c>src/Native/fiber.h</c>).</summary>
    /// <remarks>
    /// Every import that can run guest code (<see cref="Resume"/>) is an ordinary P/Invoke with a GC transition:
    /// while a fiber runs, the thread is in preemptive mode, so the GC never waits for it and never looks at the fiber
    /// stack, which only ever holds native frames. <c>[SuppressGCTransition]</c> must never be used there: a fiber can
    /// run for as long as its guest likes. The one exception is <see cref="Init"/>, which runs no guest code.
    /// </remarks>
    internal static unsafe partial class AllocatorNative
    {
        /// <summary>The ABI this assembly was written against; the loaded library must report the same.</summary>
        public const int AbiVersion = 4;

        /// <summary>Smallest stack <see cref="Init"/> accepts (room for signal frames plus some guest frames).</summary>
        public const int MinimumStackSize = 16 * 1024;

        private const string Library = "AllocatorNative";

        private static int s_abiChecked;

        /// <summary>Test seam: answers the version query instead of the library (null: ask the library). Read only
        /// on the first <see cref="Init"/>, never on the fast path.</summary>
        internal static Func<int>? AbiVersionForTest { get; set; }

        /// <summary>Test seam: makes the next <see cref="Init"/> check the ABI again.</summary>
        internal static void ForgetAbiCheckForTest() => Volatile.Write(ref s_abiChecked, 0);

        [LibraryImport(Library, EntryPoint = "allocator_fiber_abi_version")]
        private static partial int LoadedAbiVersion();

        // No GC transition: allocator_fiber_init only writes the context and the entry frame at the top of the stack
        // (a few dozen stores, no lock, no call out, no guest code), which is what SuppressGCTransition is for; the
        // transition cost about as much as the init itself, once per fiber.
        [LibraryImport(Library, EntryPoint = "allocator_fiber_init")]
        [SuppressGCTransition]
        private static partial NativeFiberContext* InitCore(nint stackLimit, nuint stackSize, nint entry, nint argument);

        /// <summary>Runs the fiber until it makes a host call, completes, traps or finishes cancelling.</summary>
        [LibraryImport(Library, EntryPoint = "allocator_fiber_resume")]
        public static partial NativeFiberState Resume(NativeFiberContext* context, NativeFiberResumeStatus status, nint value);

        /// <summary>Prepares a fiber whose context sits at the top of [<paramref name="stackLimit"/>,
        /// <paramref name="stackLimit"/> + <paramref name="stackSize"/>); null if the stack is too small.</summary>
        public static NativeFiberContext* Init(nint stackLimit, nuint stackSize, nint entry, nint argument)
        {
            EnsureAbi();
            return InitCore(stackLimit, stackSize, entry, argument);
        }

        /// <summary><see cref="Init"/> for a caller that has run <see cref="EnsureAbi"/>: then the import is bound
        /// and nothing in here can throw, so it may be called outside a try block, where the JIT inlines it (inside
        /// one a P/Invoke goes through a stub call).</summary>
        public static NativeFiberContext* InitChecked(nint stackLimit, nuint stackSize, nint entry, nint argument)
        {
            Debug.Assert(Volatile.Read(ref s_abiChecked) != 0, "EnsureAbi first.");
            return InitCore(stackLimit, stackSize, entry, argument);
        }

        /// <summary>Checks the loaded library's ABI on the first call; throws what <see cref="Init"/> documents.</summary>
        public static void EnsureAbi()
        {
            if (Volatile.Read(ref s_abiChecked) == 0)
            {
                CheckAbi();
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void CheckAbi()
        {
            int loaded;
            try
            {
                loaded = AbiVersionForTest is { } answer ? answer() : LoadedAbiVersion();
                if (loaded == AbiVersion)
                {
                    // Binds the init import now (a null stack is refused without touching memory), so that
                    // InitChecked cannot fail to bind later, outside its caller's try block.
                    _ = InitCore(0, 0, 0, 0);
                }
            }
            catch (DllNotFoundException ex)
            {
                throw new PlatformNotSupportedException(
                    $"Fibers need libAllocatorNative (built for linux-x64 from src/Native), which was not found next to the application: {ex.Message}", ex);
            }
            if (loaded != AbiVersion)
            {
                throw new InvalidOperationException($"libAllocatorNative has fiber ABI {loaded}, this assembly expects {AbiVersion}: the native library and Allocator.dll come from different builds.");
            }
            Volatile.Write(ref s_abiChecked, 1);
        }
    }
}
