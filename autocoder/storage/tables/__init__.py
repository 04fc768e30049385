"""V5EnhancedStore's storage: tables with real columns, reflected and validated, created and
changed by versioned migrations."""
