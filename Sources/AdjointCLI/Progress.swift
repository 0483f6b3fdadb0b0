import Foundation

/// A per-epoch progress bar that redraws in place on a terminal and prints a plain line
/// every so often otherwise (logs, CI, pipes).
struct ProgressDisplay {
    let total: Int
    let label: String
    let isTerminal = isatty(STDOUT_FILENO) != 0
    private let start = Date()
    private var lastPlainLine = -1

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    /// Reports `step` (1-based) of `total` with the examples seen and the running loss.
    mutating func update(step: Int, examples: Int, runningLoss: Double) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(examples) / elapsed : 0
        if isTerminal {
            let width = 30
            let filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            print(String(format: "\r%@ [%@] %d/%d  %.0f ex/s  loss %.4f", label, bar, step, total, rate, runningLoss), terminator: "")
            fflush(nil)
        } else {
            let interval = Swift.max(1, total / 5)
            if step == total || step / interval != lastPlainLine {
                lastPlainLine = step / interval
                print(String(format: "%@ step %d/%d  %.0f ex/s  loss %.4f", label, step, total, rate, runningLoss))
                // A pipe is fully buffered: flush so `| tee` and logs follow the run.
                fflush(nil)
            }
        }
    }

    /// Ends the bar's line.
    func finish() {
        if isTerminal { print("") }
    }
}
