"""Run control and the weight stream's write pointer: the engines' control blocks behind the
register bank (:class:`hw.bus.RegisterBank`)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bus import Access, Status, register_signature
from .config import ceil_log2
from .replicas import replicate


__all__ = ["WeightStream", "RunControl"]


class WeightStream(wiring.Component):
    """The weight memory's write pointer: where the next word streamed into
    :attr:`hw.bus.Region.WEIGHTS` goes.

    A write of ``pointer`` points the stream at word 0 of that beat; each ``write`` then
    moves it on by a word, to the next beat after ``words_per_beat`` words. With
    ``programmable``, a write of the ``words_per_beat`` port sets the words of each beat
    from then on (a format narrower than the memory sends fewer); otherwise every beat is
    ``words`` words. All take effect in the next cycle.

    Members
    -------
    pointer : ``In(register_signature(Access.W, ceil_log2(depth)))``
        The ``WEIGHT_POINTER`` register's write strobe.
    words_per_beat : ``In(register_signature(Access.W, ceil_log2(words + 1)))``
        Only with ``programmable``: the ``WORDS_PER_BEAT`` register's write strobe.
    write : ``In(1)``
        A word is written to the weight region in this cycle.
    beat : ``Out(ceil_log2(depth))``
    word : ``Out(max(1, ceil_log2(words)))``
        Where that word goes.
    """
    def __init__(self, depth, words, *, programmable):
        self.words = words
        self.programmable = programmable
        ports = {
            "pointer": In(register_signature(Access.W, ceil_log2(depth))),
            "write":   In(1),
            "beat":    Out(ceil_log2(depth)),
            "word":    Out(max(1, ceil_log2(words))),
        }
        if programmable:
            ports["words_per_beat"] = In(register_signature(Access.W, ceil_log2(words + 1)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self.programmable:
            words = Signal(range(self.words + 1), init=self.words)
            with m.If(self.words_per_beat.w_stb):
                m.d.sync += words.eq(self.words_per_beat.w_data)
        else:
            words = self.words
        with m.If(self.pointer.w_stb):
            m.d.sync += [self.beat.eq(self.pointer.w_data), self.word.eq(0)]
        with m.Elif(self.write):
            with m.If(self.word + 1 == words):
                m.d.sync += [self.word.eq(0), self.beat.eq(self.beat + 1)]
            with m.Else():
                m.d.sync += self.word.eq(self.word + 1)
        return m


class RunControl(wiring.Component):
    """Starts a run on ``request`` and ends it when the output stage has retired
    ``n_beats`` beats; forms ``STATUS``.

    ``busy`` rises in the cycle after the request (so that a read of ``STATUS`` that follows
    the write sees the run) and falls as ``done`` rises. The run itself starts a cycle
    later, on the ``start`` pulses: ``copies`` registered copies of the request, one for
    each group of blocks it reaches (:mod:`hw.replicas`), the last one also run control's
    own. ``status`` is registered: ``BUSY``,
    ``DONE``, ``ROW_ERROR`` when the run closed another count of rows than ``n_rows``, and
    ``OVERRUN`` as the output stage reports it.

    Members
    -------
    request : ``In(1)``
    n_beats : ``In(beats_width)``
    retired : ``In(1)``
        The output stage has written the rows of one more beat.
    n_rows, rows : ``In(rows_width)``
        The rows the layer should close, and those it has closed.
    overrun : ``In(1)``
    start : ``Out(copies)``
        Bit ``k`` is copy ``k`` of the start pulse.
    busy, done : ``Out(1)``
    status : ``Out(Status)``
    """
    def __init__(self, *, beats_width, rows_width, copies):
        self.copies = copies
        super().__init__({
            "request": In(1),
            "n_beats": In(beats_width),
            "retired": In(1),
            "n_rows":  In(rows_width),
            "rows":    In(rows_width),
            "overrun": In(1),
            "start":   Out(copies),
            "busy":    Out(1),
            "done":    Out(1),
            "status":  Out(Status),
        })

    def elaborate(self, platform):
        m = Module()
        starts = replicate(m, self.request, self.copies, name="start")
        start = starts[-1]
        m.d.comb += self.start.eq(Cat(starts))
        retired = Signal.like(self.n_beats)
        with m.If(start):
            m.d.sync += retired.eq(0)
        with m.Elif(self.busy):
            with m.If(retired == self.n_beats):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
            with m.If(self.retired):
                m.d.sync += retired.eq(retired + 1)
        with m.If(self.request):
            m.d.sync += [self.busy.eq(1), self.done.eq(0)]
        done = self.done
        m.d.sync += self.status.eq(
            Mux(self.busy, Status.BUSY.value, 0) | Mux(done, Status.DONE.value, 0) |
            Mux(done & (self.rows != self.n_rows), Status.ROW_ERROR.value, 0) |
            Mux(self.overrun, Status.OVERRUN.value, 0))
        return m
