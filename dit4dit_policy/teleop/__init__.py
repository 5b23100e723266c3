"""VR teleoperation: WebXR page, secure WebSocket server, IK retargeting onto the G1 arms. Torch-free."""
