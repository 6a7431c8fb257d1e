"""MeshPulse: anomaly detection and safe feedback for Istio service meshes."""
