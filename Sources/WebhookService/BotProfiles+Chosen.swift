import Policy

extension BotProfiles {
    /// The profile a request names, else the default one: `404 unknown_profile` for a name no profile has, `400
    /// profile_required` when none is named and there is no default (`/start`, `/v1/calls`, a browser's offer).
    func chosen(_ name: String?) throws(APIError) -> BotProfile {
        if let name {
            guard let profile = named(name) else { throw APIError(.notFound, .unknownProfile) }
            return profile
        }
        guard let profile = defaultProfile else { throw APIError(.badRequest, .profileRequired) }
        return profile
    }
}
