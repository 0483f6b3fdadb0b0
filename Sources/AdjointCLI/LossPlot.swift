import Adjoint
import Foundation

/// A self-contained SVG chart of training loss and test accuracy per epoch.
enum LossPlot {
    /// Writes the chart to `url` atomically.
    static func write(losses: [Double], accuracies: [Double], title: String, to url: URL) throws {
        let width = 640.0, height = 370.0, left = 60.0, right = 60.0, top = 52.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let epochs = Swift.max(losses.count, 1)
        let maxLoss = Swift.max(losses.max() ?? 1, 1e-6)
        func x(_ epoch: Int) -> Double { left + (epochs == 1 ? plotWidth / 2 : plotWidth * Double(epoch) / Double(epochs - 1)) }
        func lossY(_ value: Double) -> Double { top + plotHeight * (1 - value / maxLoss) }
        // The accuracy axis starts just below the lowest accuracy (in 5 % steps) so the
        // curve is not flattened against the top of a 0-100 % axis.
        let lowAccuracy = Swift.max(0, ((accuracies.min() ?? 0) - 0.02) * 20).rounded(.down) / 20
        func accuracyY(_ value: Double) -> Double { top + plotHeight * (1 - (value - lowAccuracy) / (1 - lowAccuracy)) }
        func polyline(_ values: [Double], _ y: (Double) -> Double, color: String) -> String {
            let points = values.enumerated().map { String(format: "%.1f,%.1f", x($0.offset), y($0.element)) }.joined(separator: " ")
            let dots = values.enumerated().map { String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", x($0.offset), y($0.element), color) }.joined()
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\(dots)"
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += "<text x=\"\(width / 2)\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">\(title)</text>"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#888\"/>"
        for tick in 0...4 {
            let fraction = Double(tick) / 4
            let y = top + plotHeight * (1 - fraction)
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#eee\"/>"
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f77b4\">%.3f</text>", left - 6, y + 4, maxLoss * fraction)
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" fill=\"#d62728\">%.1f%%</text>", left + plotWidth + 6, y + 4, (lowAccuracy + (1 - lowAccuracy) * fraction) * 100)
        }
        for epoch in 0..<epochs {
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>", x(epoch), top + plotHeight + 18, epoch + 1)
        }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">epoch</text>"
        svg += polyline(losses, lossY, color: "#1f77b4") + polyline(accuracies, accuracyY, color: "#d62728")
        svg += "<text x=\"\(left)\" y=\"\(top - 10)\" fill=\"#1f77b4\">● training loss (left axis)</text>"
        svg += "<text x=\"\(left + plotWidth)\" y=\"\(top - 10)\" text-anchor=\"end\" fill=\"#d62728\">test accuracy (right axis) ●</text></svg>\n"
        do {
            try Data(svg.utf8).write(to: url, options: .atomic)
        } catch {
            throw AdjointError.file(path: url.path, reason: "cannot write the plot: \(error.localizedDescription)")
        }
    }
}
