package detections

// oNoFollow is not an open flag on Windows: there the walk's own refusal of
// links is what keeps a rule folder from leading elsewhere.
const oNoFollow = 0
