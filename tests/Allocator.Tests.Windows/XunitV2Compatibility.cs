// The linked test sources are written for xunit 2, where ITestOutputHelper lives in Xunit.Abstractions; xunit v3
// moved it into Xunit. This empty namespace lets their `using Xunit.Abstractions;` compile unchanged.
namespace Xunit.Abstractions
{
    internal static class XunitV2Compatibility
    {
    }
}
