"""Data protection: records of access, retention (anonymisation of closed cases), the rights of the persons
(export, erasure) and the rotation of the field encryption keys."""
