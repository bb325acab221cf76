"""``GUIDE-en.txt`` and ``GUIDE-it.txt``: how a recipient verifies a pack, in plain words.

The guides name the document, the tenant, the period and the provider certificate's SHA-256
fingerprint, which the reader compares with one the provider published elsewhere (its web
site, the contract). They hold nothing about other tenants.
"""

from __future__ import annotations

from cryptography import x509

from attest.attestation import Attestation
from attest.pack import CHAIN, MANIFEST, MANIFEST_ENVELOPE
from attest.signing import certificate_fingerprint


def colon_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it (AB:CD:…)."""
    hexed = certificate_fingerprint(cert).upper()
    return ":".join(hexed[i : i + 2] for i in range(0, len(hexed), 2))


def _facts(att: Attestation, cert: x509.Certificate) -> dict[str, str]:
    return {
        "id": att.document_id,
        "tenant": f"{att.tenant.legal_name} ({att.tenant.id})",
        "period": att.period,
        "provider": att.provider.name,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": f"{cert.not_valid_after_utc:%Y-%m-%d}",
        "fingerprint": colon_fingerprint(cert),
        "records": str(len(att.proofs)),
        "tree_size": str(att.checkpoint.tree_size),
        "root": att.checkpoint.root_hash,
        "chain": CHAIN,
        "manifest": MANIFEST,
        "envelope": MANIFEST_ENVELOPE,
    }


_EN = """\
EVIDENCE PACK - HOW TO VERIFY IT

Document {id}
Tenant   {tenant}
Period   {period}
Provider {provider}

This pack holds a signed attestation (document/{id}.pdf, .html, .json, with
the DSSE signature envelopes of the HTML and JSON), the {records} evidence record(s) it cites
(records/<position>.json), the provider's certificate chain ({chain}),
and {manifest}, which lists every other file with its SHA-256 and size and is
signed in {envelope}.

1. Check who signed it
   The provider certificate (the first one in {chain}) is
     subject  {subject}
     issuer   {issuer}
     valid to {not_after}
     SHA-256  {fingerprint}
   Compare this fingerprint with the one the provider publishes elsewhere (its web site,
   the contract, a letter). For example:
     openssl x509 -in {chain} -noout -fingerprint -sha256
   If they differ, do not trust the pack.

2. Verify everything at once, offline
     attest verify PACK.zip --trust CA.pem
   CA.pem is the provider's certification authority, obtained from the provider through a
   channel you trust. Exit code 0: valid and trusted. 1: the first problem found, naming the
   file (or "valid but signer not trusted"). 2: the file is not a usable pack.
   It checks the manifest signature, every file's SHA-256 and size, that no file was added or
   removed, the PDF signature, the HTML and JSON signatures, the checkpoint signature and that
   every cited record is in the signed evidence log (RFC 6962 inclusion proofs).

3. Verify the PDF with other tools
   Unzip the pack, then:
     pdfsig document/{id}.pdf
   Read the lines "Signature Validation: Signature is Valid." and "Certificate Validation:"
   (pdfsig exits 0 even when the signature does not match, so read the lines). Any
   PAdES-capable PDF reader (for example Adobe Acrobat Reader) shows the certification
   signature too, once CA.pem is among its trusted certificates.

4. Check an evidence record by hand (optional)
   The leaf hash of records/<n>.json is SHA-256 of one byte 0x00 followed by the file's bytes;
   it must equal "leaf_hash" of the proof with "leaf_index" n in document/{id}.json, and
   the proof's "audit_path" must lead to the checkpoint root {root}
   (tree size {tree_size}), which the provider signed ("checkpoint" in the same file).

5. Datacenter certificates (when the document cites them)
   certificates/sites/<site>/<n>-<number>.<ext> is the certificate file the provider stored
   for a datacenter. records/<n>.json describes it (kind manual.site_certificate), and its
   "artifacts" list holds the file's SHA-256: compute it (sha256sum) and compare. Check the
   certificate with its issuer, too; the provider's signature only proves which file was
   stored.
"""

_IT = """\
PACCHETTO DI EVIDENZE - COME VERIFICARLO

Documento {id}
Cliente   {tenant}
Periodo   {period}
Fornitore {provider}

Il pacchetto contiene un'attestazione firmata (document/{id}.pdf, .html, .json,
con le buste di firma DSSE dell'HTML e del JSON), le {records} evidenze che cita
(records/<posizione>.json), la catena di certificati del fornitore ({chain})
e {manifest}, che elenca ogni altro file con SHA-256 e dimensione ed e' firmato
in {envelope}.

1. Controllare chi ha firmato
   Il certificato del fornitore (il primo in {chain}) e'
     soggetto     {subject}
     emittente    {issuer}
     valido fino  {not_after}
     SHA-256      {fingerprint}
   Confrontare questa impronta con quella che il fornitore pubblica altrove (sito web,
   contratto, lettera). Ad esempio:
     openssl x509 -in {chain} -noout -fingerprint -sha256
   Se sono diverse, non fidarsi del pacchetto.

2. Verificare tutto in una volta, senza rete
     attest verify PACK.zip --trust CA.pem
   CA.pem e' l'autorita' di certificazione del fornitore, ottenuta dal fornitore attraverso un
   canale affidabile. Codice di uscita 0: valido e affidabile. 1: il primo problema trovato,
   con il nome del file (oppure "valid but signer not trusted"). 2: il file non e' un
   pacchetto utilizzabile.
   Controlla la firma del manifest, SHA-256 e dimensione di ogni file, che nessun file sia stato
   aggiunto o tolto, la firma del PDF, le firme di HTML e JSON, la firma del checkpoint e che ogni
   evidenza citata sia nel registro firmato (prove di inclusione RFC 6962).

3. Verificare il PDF con altri strumenti
   Estrarre il pacchetto, poi:
     pdfsig document/{id}.pdf
   Leggere le righe "Signature Validation: Signature is Valid." e "Certificate Validation:"
   (pdfsig termina con 0 anche quando la firma non corrisponde: leggere le righe). Ogni lettore
   PDF che supporta PAdES (ad esempio Adobe Acrobat Reader) mostra la firma di certificazione,
   una volta aggiunto CA.pem ai certificati attendibili.

4. Controllare a mano un'evidenza (facoltativo)
   L'hash foglia di records/<n>.json e' lo SHA-256 di un byte 0x00 seguito dai byte del file;
   deve essere uguale a "leaf_hash" della prova con "leaf_index" n in document/{id}.json,
   e il suo "audit_path" deve portare alla radice del checkpoint {root}
   (dimensione {tree_size}), firmata dal fornitore ("checkpoint" nello stesso file).

5. Certificati dei datacenter (quando il documento li cita)
   certificates/sites/<sito>/<n>-<numero>.<ext> e' il file del certificato che il fornitore ha
   archiviato per un datacenter. records/<n>.json lo descrive (tipo manual.site_certificate)
   e la sua lista "artifacts" contiene lo SHA-256 del file: calcolarlo (sha256sum) e
   confrontarlo. Verificare il certificato anche presso chi lo ha emesso: la firma del
   fornitore prova solo quale file e' stato archiviato.
"""


_AUDIT_EN = """
5. The GDPR audit report (audit/)
   audit/<report>.pdf (signed, PAdES; check it with pdfsig as in step 3), .html and
   .report.json (each signed in its .dsse.json envelope) organise this pack's evidence by what
   an auditor verifies: 1. the Art. 32 measures, the controls that serve each, this tenant's
   verdicts and the records behind them (record n is records/n.json); 2. the Art. 28(3)
   checklist, saying plainly which points technical evidence cannot show (contractual);
   3. where the data is (primary instances, HA targets, backups, off-site copies: sites,
   countries, EU/EEA); 4. the datacenter operators those sites imply (sub-processors);
   5. the verdicts of the last 12 periods. The PDF attaches the attestation it rests on.
   `attest verify PACK.zip` checks its signatures, that it names this pack's tenant, period
   and document, and that every record it refers to is in the pack.
"""

_AUDIT_IT = """
5. Il rapporto di audit GDPR (audit/)
   audit/<rapporto>.pdf (firmato PAdES; verificarlo con pdfsig come al punto 3), .html e
   .report.json (ciascuno firmato nella sua busta .dsse.json) ordinano le evidenze del
   pacchetto secondo cio' che un revisore verifica: 1. le misure dell'art. 32, i controlli che
   le servono, gli esiti di questo cliente e le evidenze su cui poggiano (l'evidenza n e'
   records/n.json); 2. la lista di controllo dell'art. 28(3), che indica chiaramente i punti che
   le evidenze tecniche non possono dimostrare (contrattuali); 3. dove sono i dati (istanze
   primarie, destinazioni HA, backup, copie fuori sede: siti, paesi, UE/SEE); 4. i gestori dei
   datacenter implicati da quei siti (sub-responsabili); 5. gli esiti degli ultimi 12 periodi.
   Il PDF allega l'attestazione su cui si basa. `attest verify PACK.zip` ne controlla le firme,
   che riguardi cliente, periodo e documento di questo pacchetto e che ogni evidenza a cui
   rimanda sia nel pacchetto.
"""


def guides(att: Attestation, cert: x509.Certificate, kind: str = "tender") -> dict[str, bytes]:
    """Both guides, by file name; an audit pack's also describe the audit report."""
    facts = _facts(att, cert)
    en, it = _EN.format(**facts), _IT.format(**facts)
    if kind == "audit":
        en, it = en + _AUDIT_EN, it + _AUDIT_IT
    return {"GUIDE-en.txt": en.encode("utf-8"), "GUIDE-it.txt": it.encode("utf-8")}


_FLEET_EN = """\
PROVIDER-WIDE EVIDENCE PACK - HOW TO VERIFY IT

Document {id}
Scope    every tenant of the provider (none is named)
Period   {period}
Provider {provider}

This pack holds a signed provider-wide attestation (document/{id}.pdf, .html, .json, with
the DSSE signature envelopes of the HTML and JSON), the {records} datacenter certificate
record(s) on record when it was issued (records/<position>.json) with their inclusion proofs
({proofs}) and the certificate files (certificates/sites/), the provider's certificate
chain ({chain}), and {manifest}, which lists every other file with its SHA-256 and size and
is signed in {envelope}.

1. Check who signed it
   The provider certificate (the first one in {chain}) is
     subject  {subject}
     issuer   {issuer}
     valid to {not_after}
     SHA-256 fingerprint
       {fingerprint}
   Compare this fingerprint with the one the provider publishes elsewhere (its web site,
   your contract). If they differ, do not trust the pack.

2. Check everything at once (recommended)
   With the provider's CA certificate saved as CA.pem:
     attest verify PACK.zip --trust CA.pem
   It checks every signature, the datacenter records against the signed checkpoint, the
   certificate files against their records, and that no file was added, removed or altered.
   Exit code 0: valid and trusted; 1: the first problem, with the file it concerns.

3. Check the PDF on its own
     pdfsig document/{id}.pdf
   must print "Signature Validation: Signature is Valid." (pdfsig exits 0 even when the
   signature does not match, so read the lines). Any PAdES-capable PDF reader shows the
   certification signature too, once CA.pem is among its trusted certificates.

4. What the figures count
   Every figure gives its count and its denominator; insufficient evidence is never counted
   as a pass. Exceptions are listed with anonymous labels valid within this document only.
   The attestation names the checkpoint (tree size {tree_size}, root {root}) of the evidence
   log it summarises; the provider can show a GDPR auditor the per-tenant evidence behind it.

5. Datacenter certificates
   certificates/sites/<site>/<n>-<number>.<ext> is a certificate file the provider stored for
   a datacenter; records/<n>.json describes it and its "artifacts" list holds the file's
   SHA-256. The record's leaf hash (SHA-256 of 0x00 followed by the file's bytes) and the
   audit path in {proofs} lead to the checkpoint root above.
"""

_FLEET_IT = """\
PACCHETTO DI EVIDENZE DEL FORNITORE - COME VERIFICARLO

Documento {id}
Ambito    tutti i clienti del fornitore (nessuno e' nominato)
Periodo   {period}
Fornitore {provider}

Il pacchetto contiene un'attestazione firmata sull'intero servizio (document/{id}.pdf,
.html, .json, con le buste di firma DSSE dell'HTML e del JSON), le {records} evidenze dei
certificati dei datacenter registrate al momento dell'emissione (records/<posizione>.json)
con le prove di inclusione ({proofs}) e i file dei certificati (certificates/sites/), la
catena di certificati del fornitore ({chain}) e {manifest}, che elenca ogni altro file con
SHA-256 e dimensione ed e' firmato in {envelope}.

1. Controllare chi ha firmato
   Il certificato del fornitore (il primo in {chain}) e'
     soggetto   {subject}
     emittente  {issuer}
     valido fino al {not_after}
     impronta SHA-256
       {fingerprint}
   Confrontare l'impronta con quella pubblicata dal fornitore altrove (sito web, contratto).
   Se sono diverse, il pacchetto non e' attendibile.

2. Verificare tutto in una volta (consigliato)
   Con il certificato della CA del fornitore salvato come CA.pem:
     attest verify PACK.zip --trust CA.pem
   Controlla ogni firma, le evidenze dei datacenter rispetto al checkpoint firmato, i file dei
   certificati rispetto alle loro evidenze, e che nessun file sia stato aggiunto, tolto o
   modificato. Codice di uscita 0: valido e attendibile; 1: il primo problema, con il file.

3. Verificare il PDF da solo
     pdfsig document/{id}.pdf
   deve stampare "Signature Validation: Signature is Valid." (pdfsig termina con 0 anche
   quando la firma non corrisponde: leggere le righe). Ogni lettore PDF che supporta PAdES
   mostra la firma di certificazione, una volta aggiunto CA.pem ai certificati attendibili.

4. Che cosa contano le cifre
   Ogni cifra riporta il conteggio e il denominatore; le evidenze insufficienti non contano
   mai come esito positivo. Le eccezioni hanno etichette anonime valide solo in questo
   documento. L'attestazione indica il checkpoint (dimensione {tree_size}, radice {root})
   del registro delle evidenze che riassume.

5. Certificati dei datacenter
   certificates/sites/<sito>/<n>-<numero>.<ext> e' un file di certificato archiviato dal
   fornitore per un datacenter; records/<n>.json lo descrive e la sua lista "artifacts"
   contiene lo SHA-256 del file. L'hash foglia dell'evidenza (SHA-256 di 0x00 seguito dai byte
   del file) e il percorso in {proofs} portano alla radice del checkpoint indicata sopra.
"""


def fleet_guides(document_id: str, period: str, provider: str, tree_size: int, root: str, records: int,
                 proofs_name: str, cert: x509.Certificate) -> dict[str, bytes]:
    """Both guides of a provider-wide pack, which name no tenant."""
    facts = {"id": document_id, "period": period, "provider": provider, "records": str(records),
             "proofs": proofs_name, "tree_size": str(tree_size), "root": root, "chain": CHAIN,
             "manifest": MANIFEST, "envelope": MANIFEST_ENVELOPE, "subject": cert.subject.rfc4514_string(),
             "issuer": cert.issuer.rfc4514_string(), "not_after": f"{cert.not_valid_after_utc:%Y-%m-%d}",
             "fingerprint": colon_fingerprint(cert)}
    return {"GUIDE-en.txt": _FLEET_EN.format(**facts).encode("utf-8"),
            "GUIDE-it.txt": _FLEET_IT.format(**facts).encode("utf-8")}
