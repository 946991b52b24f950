"""Supporting documents (pièces justificatives) of an aid request: uploaded by the school's referent, checked by
content, stored encrypted outside any served folder, streamed only after an access check."""
