"""The stages: text in, records out. The spaCy parse (nlp, parser), then the components the pipeline runs
over it (components: names, attribution, events, the learned coder, intentions, casualties, mentions) and the knowledge
they use (actors, places, toponyms, time, modality). Never imports the store, linking or the faces.
"""
