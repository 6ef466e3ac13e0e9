/// A setting that cannot be used; `description` is the one line printed before exiting with status 2.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The environment variable at fault.
    public let variable: String
    /// What is wrong with it and what is accepted instead.
    public let problem: String

    public init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "\(variable): \(problem)" }
}
