// The simulated board: the Verilated board-level top, its UART served on a local TCP port.
//
// Usage: sparse_board DIVISOR PORT [TRACE]. Listens on 127.0.0.1:PORT (0 picks a free port),
// prints "PORT <n>" on stdout, then serves one client at a time until SIGTERM or SIGINT.
// Bytes from the client are sent bit by bit on the board's rx pin, DIVISOR cycles per bit;
// bytes the board sends on its tx pin are returned to the client. Simulated time stands still
// while a frame is arriving from the client, and runs while the board works or the link is
// idle, so the board's link timeout fires only when a frame really stopped. The accelerator
// core has a clock of its own, ticked only in the cycles the board marks core_active: the
// link alone runs between them, many times faster. Built with Verilator's --trace
// (SIM_TRACE_VCD) or --trace-fst (SIM_TRACE_FST), it writes the board's signals to TRACE
// every cycle, and closes the file when it ends.
#include "Vsparse_board.h"
#include "verilated.h"
#if defined(SIM_TRACE_FST)
#include "verilated_fst_c.h"
using Trace = VerilatedFstC;
#elif defined(SIM_TRACE_VCD)
#include "verilated_vcd_c.h"
using Trace = VerilatedVcdC;
#endif

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t stopping = 0;

void stop(int) { stopping = 1; }

struct Harness {
    VerilatedContext context;
    Vsparse_board top{&context};
    int divisor;

    // Bytes into the board's rx pin.
    std::deque<uint8_t> incoming;
    int rx_bit = -1;          // -1: line idle; 0: start bit; 1..8: data; 9: stop bit
    int rx_left = 0;
    uint8_t rx_byte = 0;

    // Bytes out of the board's tx pin.
    std::vector<uint8_t> outgoing;
    int tx_bit = -1;          // -1: line idle; 0..7 data bits; 8 stop bit
    int tx_timer = 0;
    uint8_t tx_byte = 0;
    uint64_t tx_idle = 0;

#if defined(SIM_TRACE_FST) || defined(SIM_TRACE_VCD)
    std::unique_ptr<Trace> trace;
#endif

    Harness(int divisor, const char* trace_path) : divisor(divisor) {
#if defined(SIM_TRACE_FST) || defined(SIM_TRACE_VCD)
        if (trace_path) {
            context.traceEverOn(true);
            trace = std::make_unique<Trace>();
            top.trace(trace.get(), 99);
            trace->open(trace_path);
        }
#else
        if (trace_path) {
            std::fprintf(stderr, "sparse_board: built without tracing\n");
            std::exit(2);
        }
#endif
        top.rx = 1;
        top.rst = 1;
        top.core_rst = 1;
        for (int i = 0; i < 4; i++) cycle(true);
        top.rst = 0;
        top.core_rst = 0;
    }

    void cycle(bool force_core = false) {
        if (rx_bit < 0 && !incoming.empty()) {
            rx_byte = incoming.front();
            incoming.pop_front();
            rx_bit = 0;
            rx_left = divisor;
        }
        if (rx_bit < 0) top.rx = 1;
        else if (rx_bit == 0) top.rx = 0;
        else if (rx_bit <= 8) top.rx = (rx_byte >> (rx_bit - 1)) & 1;
        else top.rx = 1;
        bool core = force_core || top.core_active;
        top.clk = 0;
        top.core_clk = 0;
        top.eval();
        dump();
        top.clk = 1;
        top.core_clk = core;
        top.eval();
        dump();
        if (rx_bit >= 0 && --rx_left == 0) {
            rx_left = divisor;
            if (++rx_bit == 10) rx_bit = -1;
        }
        // Sample tx as the board's own receiver would: each bit in its middle.
        if (tx_bit < 0) {
            if (!top.tx) {
                tx_bit = 0;
                tx_timer = divisor - 1 + (divisor - 1) / 2;
                tx_byte = 0;
                tx_idle = 0;
            } else {
                tx_idle++;
            }
        } else if (tx_timer-- == 0) {
            tx_timer = divisor - 1;
            if (tx_bit < 8) {
                tx_byte |= (top.tx & 1) << tx_bit;
                tx_bit++;
            } else {
                if (top.tx) outgoing.push_back(tx_byte);
                tx_bit = -1;
            }
        }
    }

    void dump() {
#if defined(SIM_TRACE_FST) || defined(SIM_TRACE_VCD)
        if (trace) trace->dump(context.time());
#endif
        context.timeInc(1);
    }

    void close() {
#if defined(SIM_TRACE_FST) || defined(SIM_TRACE_VCD)
        if (trace) trace->close();
#endif
    }

    bool busy() const {
        return !incoming.empty() || rx_bit >= 0 || tx_bit >= 0 || top.busy || tx_idle < 64;
    }
};

bool send_all(int fd, std::vector<uint8_t>& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += n;
    }
    bytes.clear();
    return true;
}

void serve(Harness& board, int fd) {
    auto last_byte = Clock::now();
    uint8_t buffer[65536];
    while (!stopping) {
        bool working = board.busy();
        auto quiet = Clock::now() - last_byte;
        int wait_ms = 0;
        if (!working) {
            // A frame may be on its way: wait for it without letting simulated time pass.
            if (quiet < std::chrono::milliseconds(2)) wait_ms = 1;
            else if (quiet > std::chrono::milliseconds(200)) wait_ms = 10;
        }
        pollfd watch{fd, POLLIN, 0};
        if (poll(&watch, 1, wait_ms) > 0) {
            ssize_t n = recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) return;
            board.incoming.insert(board.incoming.end(), buffer, buffer + n);
            last_byte = Clock::now();
            continue;
        }
        if (!working && quiet < std::chrono::milliseconds(2)) continue;
        for (int i = 0; i < 256; i++) board.cycle();
        if (!board.outgoing.empty() && !send_all(fd, board.outgoing)) return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s DIVISOR PORT [TRACE]\n", argv[0]);
        return 2;
    }
    struct sigaction action {};
    action.sa_handler = stop;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    Harness board(std::atoi(argv[1]), argc == 4 ? argv[3] : nullptr);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(std::atoi(argv[2]));
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listener, 1) != 0) {
        std::perror("sparse_board: cannot listen");
        return 1;
    }
    socklen_t length = sizeof address;
    getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    std::printf("PORT %d\n", ntohs(address.sin_port));
    std::fflush(stdout);
    while (!stopping) {
        pollfd waiting{listener, POLLIN, 0};
        if (poll(&waiting, 1, 100) <= 0) continue;
        int client = accept(listener, nullptr, nullptr);
        if (client < 0) continue;
        int nodelay = 1;
        setsockopt(client, IPPROTO_TCP, 1 /* TCP_NODELAY */, &nodelay, sizeof nodelay);
        serve(board, client);
        close(client);
    }
    board.close();
    return 0;
}
