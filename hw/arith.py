"""Small arithmetic shared by the blocks."""


__all__ = ["popcount"]


def popcount(bits):
    """Count of set bits, summed as a balanced tree so each adder is only as wide as needed."""
    counts = [bits[i] for i in range(len(bits))]
    while len(counts) > 1:
        pairs = [counts[i] + counts[i + 1] for i in range(0, len(counts) - 1, 2)]
        counts = pairs + counts[len(pairs) * 2:]
    return counts[0]
