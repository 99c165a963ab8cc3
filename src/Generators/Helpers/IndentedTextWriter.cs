using System;
using System.Text;

namespace Allocator.Generators.Helpers;

/// <summary>A minimal writer for generated C#: tracks indentation and braces so the emitters read like the output.</summary>
internal sealed class IndentedTextWriter
{
    private const string IndentUnit = "    ";

    private readonly StringBuilder _builder = new();
    private int _depth;

    public IndentedTextWriter WriteLine(string line)
    {
        if (line.Length > 0)
        {
            for (int i = 0; i < _depth; i++)
            {
                _builder.Append(IndentUnit);
            }
            _builder.Append(line);
        }
        _builder.Append('\n');
        return this;
    }

    public IndentedTextWriter WriteLine() => WriteLine(string.Empty);

    /// <summary>Writes <paramref name="header"/> and an opening brace; dispose the result to close it.</summary>
    public Block WriteBlock(string header)
    {
        WriteLine(header);
        WriteLine("{");
        _depth++;
        return new Block(this);
    }

    public override string ToString() => _builder.ToString();

    private void CloseBlock(string suffix)
    {
        _depth--;
        WriteLine("}" + suffix);
    }

    /// <summary>Closes a block opened by <see cref="WriteBlock"/>.</summary>
    public readonly struct Block : IDisposable
    {
        private readonly IndentedTextWriter _writer;

        public Block(IndentedTextWriter writer)
        {
            _writer = writer;
        }

        public void Dispose() => _writer.CloseBlock(string.Empty);
    }
}
