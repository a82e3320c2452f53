"""The web app: the Flask + Socket.IO server, its sessions and runs, the classroom, the
front door's guards, and the standalone page."""
