import Foundation

/// The time in Unix seconds, injected so that timing rules (start timeout, maximum length, retention) are
/// tested at any instant without sleeping.
public protocol WallClock: Sendable {
    func now() -> Double
}

/// The system's clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}
