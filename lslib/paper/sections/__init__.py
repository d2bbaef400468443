"""The paper's sections: each one's work declared once (``work``, ``declared``), the cached
analyses it calls (``analyses``, ``analyses_curvature``, ``analyses_beyond``, with their
configs in ``calls``), the arithmetic on their values (``measures``) and the payloads the
notebooks show."""
