"""Type stub of pypos, libpos for Python."""
from typing import Optional, Sequence, Union

Address = Union[bytes, str]  # 32 bytes, or 64 lower-case hex characters

class Error(Exception):
    code: str
    message: str
    def __init__(self, code: str, message: str) -> None: ...

def to_hex(data: bytes) -> str: ...
def from_hex(text: str) -> bytes: ...
def sha256(data: bytes) -> bytes: ...

class Transaction:
    @staticmethod
    def from_json(json: str, chain_id: str) -> Transaction: ...
    @staticmethod
    def from_bytes(data: bytes) -> Transaction: ...
    def to_json(self, with_id: bool = True) -> str: ...
    def to_bytes(self) -> bytes: ...
    def signing_bytes(self) -> bytes: ...
    def verify(self) -> bool: ...
    type: str
    chain_id: str
    sender: bytes
    receiver: bytes
    amount: int
    fee: int
    nonce: int
    timestamp: int
    signature: bytes
    id: bytes
    id_hex: str

class Vote:
    """An immutable, signed vote (docs/protocol.md, "Votes"): a validator's link from a source
    block to a target block of one chain. Sign one with Wallet.vote."""
    @staticmethod
    def from_json(json: str, chain_id: str) -> Vote:
        """Parses the JSON of docs/protocol.md, strictly (Error('malformed'); a given "id" that
        does not match: Error('id_mismatch')). Validity is check()'s."""
    @staticmethod
    def from_bytes(data: bytes) -> Vote:
        """Parses the binary form: signing bytes || validator (32) || signature (64)."""
    def to_json(self, with_id: bool = True) -> str: ...
    def to_bytes(self) -> bytes: ...
    def signing_bytes(self) -> bytes:
        """b"pos/vote/v1" || str(chain_id) || source_hash || u64(source_height) || target_hash
        || u64(target_height): what the validator signs."""
    def verify(self) -> bool:
        """Whether the Ed25519 signature is valid."""
    def check(self) -> None:
        """Every rule that needs no chain; raises Error('wrong_chain') for a chain id not of 1 to
        64 bytes, Error('bad_vote') when source_height is not below target_height,
        Error('bad_signature') for a bad signature."""
    chain_id: str
    validator: bytes
    source_hash: bytes
    source_height: int
    target_hash: bytes
    target_height: int
    signature: bytes
    id: bytes
    """SHA-256(signing bytes || validator)."""
    id_hex: str

class Evidence:
    """Two conflicting items signed by one key (docs/protocol.md, "Evidence"): two blocks for one
    slot, two votes for one target height, or a vote surrounding another. The constructors put
    the pair in the order the layout wants, whatever order it is given in, and raise
    Error('bad_evidence') for a pair that does not conflict (Error('wrong_chain') for another
    chain's items)."""
    @staticmethod
    def double_block(block_a: Block, block_b: Block) -> Evidence: ...
    @staticmethod
    def double_vote(vote_a: Vote, vote_b: Vote) -> Evidence: ...
    @staticmethod
    def surround_vote(vote_a: Vote, vote_b: Vote) -> Evidence: ...
    @staticmethod
    def from_json(json: str) -> Evidence:
        """Parses the JSON of docs/protocol.md, strictly. Validity is check()'s."""
    @staticmethod
    def from_bytes(data: bytes) -> Evidence:
        """Parses the binary form, the evidence bytes, strictly."""
    def to_json(self, with_id: bool = True) -> str: ...
    def to_bytes(self) -> bytes: ...
    def check(self, chain_id: str) -> None:
        """Everything that needs no chain state; raises Error('wrong_chain') for another chain's
        items, Error('bad_evidence') for any other refusal."""
    kind: str
    """'double_block', 'double_vote' or 'surround_vote'."""
    offender: bytes
    a: bytes
    """Header bytes (double_block) or a vote's signing bytes."""
    sig_a: bytes
    b: bytes
    sig_b: bytes
    id: bytes
    """SHA-256(bytes)."""
    id_hex: str
    # Last: within the class body, `bytes` below names this attribute, not the type.
    bytes: bytes
    """b"pos/evidence/v1" || u8(kind) || offender || u32(len(a)) || a || sig_a || u32(len(b))
    || b || sig_b: also the binary form."""

class Block:
    @staticmethod
    def from_json(json: str, chain_id: str) -> Block: ...
    @staticmethod
    def from_bytes(data: bytes) -> Block: ...
    def to_json(self) -> str: ...
    def to_bytes(self) -> bytes: ...
    height: int
    slot: int
    timestamp: int
    hash: bytes
    hash_hex: str
    parent: bytes
    forger: bytes
    vrf_proof: bytes
    """80 bytes: the forger's ECVRF proof of the slot's VRF input (all zero for genesis)."""
    vrf_output: bytes
    """64 bytes: the proof's output, what the block adds to the epoch nonces (all zero for
    genesis); reading it raises Error('bad_vrf_proof') if the proof does not decode."""
    state_root: bytes
    tx_root: bytes
    transactions: list[Transaction]
    votes: list[Vote]
    evidence: list[Evidence]

class Wallet:
    @staticmethod
    def generate() -> Wallet: ...
    @staticmethod
    def from_seed(seed: bytes) -> Wallet:
        """The key of a 32-byte Ed25519 seed (RFC 8032's secret key); another length raises
        Error('invalid_argument')."""
    @staticmethod
    def load(path: str, passphrase: Optional[str] = None) -> Wallet: ...
    def save(self, path: str, passphrase: Optional[str] = None) -> None: ...
    address: str
    public_key: bytes
    def transaction(self, type: str, chain_id: str, receiver: Optional[Address], amount: int,
                    fee: int = 0, nonce: int = 0, timestamp: int = 0) -> Transaction: ...
    def vote(self, chain_id: str, source_hash: Union[bytes, str], source_height: int,
             target_hash: Union[bytes, str], target_height: int) -> Vote:
        """Signs a vote from source to target, hashes as 32 bytes (another length raises
        Error('invalid_argument')) or 64 hex characters. Nothing is checked: Vote.check()."""
    def sign(self, message: bytes) -> bytes: ...

class Genesis:
    @staticmethod
    def load(path: str) -> Genesis: ...
    @staticmethod
    def parse(json: str) -> Genesis: ...
    def to_json(self) -> str: ...
    chain_id: str
    genesis_time: int
    slot_ms: int
    unbonding_epochs: int
    epoch_slots: int
    max_block_txs: int
    exchange_authority: str
    stakers: dict[str, int]
    """The validators, {address hex: stake}: the allocations with stake. Every slot's leader
    draw uses them: ProofOfStake(genesis.stakers)."""
    hash: bytes
    hash_hex: str
    def slot_at(self, now_ms: int) -> int: ...
    def epoch_of(self, slot: int) -> int:
        """The slot's epoch: slot // epoch_slots."""

class AccountModel:
    def get(self, address: Address) -> dict: ...
    state_root: bytes
    total_stake: int
    total_supply: int
    stakers: dict[str, int]
    def __len__(self) -> int: ...

class TransactionPool:
    def __init__(self, genesis: Genesis) -> None: ...
    def add(self, tx: Transaction, state: AccountModel, now_ms: int = 0) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: bytes) -> bool: ...
    bytes: int

class Lot:
    staker: bytes
    begin: int
    stake: int

class ProofOfStake:
    def __init__(self, stakers: dict) -> None: ...
    def leader(self, nonce: bytes, slot: int) -> Optional[bytes]:
        """The slot's leader given nonce(epoch(slot)) of the chain (EpochState.nonce_of), or
        None when nobody stakes."""
    @staticmethod
    def seed(nonce: bytes, slot: int) -> bytes: ...
    lots: list[Lot]
    total_stake: int

class Vrf:
    """ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03) under a wallet's Ed25519 key: the VRF
    public key is the address. Static methods only."""
    @staticmethod
    def prove(wallet: Wallet, alpha: bytes) -> bytes:
        """The 80-byte proof (Gamma || c || s) of alpha under the wallet's key."""
    @staticmethod
    def verify(public_key: Address, alpha: bytes, proof: bytes) -> bytes:
        """The 64-byte output (beta) if the proof holds; raises Error('bad_vrf_proof') if not,
        Error('invalid_argument') for a proof that is not 80 bytes or a key not 32."""
    @staticmethod
    def proof_to_hash(proof: bytes) -> bytes:
        """The 64-byte output of a proof, not verified; raises Error('bad_vrf_proof') only if
        the proof does not decode."""

def initial_nonce(genesis_hash: bytes) -> bytes:
    """nonce(0) = nonce(1) = SHA-256(b"pos/nonce/v1" || genesis_hash)."""
def next_nonce(previous: bytes, outputs_digest: bytes) -> bytes:
    """nonce(e) = SHA-256(b"pos/nonce/v1" || nonce(e-1) || outputs_digest), outputs_digest the
    SHA-256 of the VRF outputs of epoch e-2's blocks in height order (SHA-256(b"") if none)."""
def vrf_input(chain_id: str, nonce: bytes, slot: int) -> bytes:
    """What a slot's leader proves: b"pos/vrf/v1" || str(chain_id) || nonce(epoch(slot))
    || u64(slot) (str: u16 big-endian length, then the bytes)."""

class EpochState:
    """Where a chain stands in its epochs after one of its blocks: enough to give the nonce of
    any later slot on that chain. Byte arguments of the wrong length, and an epoch before the
    state's, raise Error('invalid_argument')."""
    @staticmethod
    def genesis(genesis_hash: bytes) -> EpochState:
        """The state after genesis (epoch 0; genesis has no VRF output)."""
    @staticmethod
    def resume(epoch: int, nonce: bytes, next_nonce: bytes,
               epoch_outputs: Sequence[bytes] = ()) -> EpochState:
        """A block's state from its nonce(epoch) and nonce(epoch + 1) and the VRF outputs of the
        chain's blocks of its epoch up to it, in height order."""
    def nonce_of(self, epoch: int) -> bytes:
        """nonce(epoch) of this chain, for a child block in epoch (>= this state's epoch)."""
    def child(self, epoch: int, output: bytes) -> EpochState:
        """The state after a child block in epoch (>= this state's epoch) with VRF output
        output (64 bytes; Block.vrf_output)."""
    epoch: int
    nonce: bytes
    """nonce(epoch)."""
    next_nonce: bytes
    """nonce(epoch + 1)."""

class Checkpoint:
    """A block of a chain as finality counts it."""
    hash: bytes
    hash_hex: str
    height: int
    slot: int

class FinalityState:
    """What a chain's votes justify and finalize, up to one of its blocks (docs/consensus.md,
    "Finality by votes"). Genesis is justified and finalized."""
    justified: Checkpoint
    """The highest justified block of the chain."""
    finalized: Checkpoint
    """The highest finalized block of the chain."""
    block: Checkpoint
    """The chain's last block so far."""
    def is_justified(self, height: int) -> bool: ...
    def has_vote(self, validator: Address, target_height: int) -> bool:
        """Whether the chain already counts a vote by validator for this target height."""

class Blockchain:
    def __init__(self, genesis: Genesis, now_ms: int = 0) -> None: ...
    @staticmethod
    def open_data_dir(genesis: Genesis, path: str) -> Blockchain: ...
    def set_time(self, now_ms: int) -> None: ...
    def apply(self, block: Block) -> str: ...
    def forge(self, wallet: Wallet, slot: int, pool: TransactionPool,
              votes: Sequence[Vote] = ()) -> Block:
        """The block for slot on the tip, if wallet is its leader, with the pool's ready
        transactions, the votes given (checked by apply, not here) and the pending evidence
        that slashes on the tip, one piece per offender. Not applied."""
    def add_evidence(self, evidence: Evidence) -> bool:
        """Keeps evidence pending for the next forged block: True when kept, False when held
        already, when another piece names the same offender, or when the offender has nothing
        left to slash; Error('bad_evidence') or Error('wrong_chain') for evidence that proves
        nothing."""
    def require_block(self, height: int, hash: bytes | str) -> None:
        """From now on refuses every chain without this block (pos-node --checkpoint):
        another block at its height, or above it on a branch through another, is refused as
        'conflicts_finalized'; Error('conflicts_finalized') when the stored main chain has
        another block there."""
    pending_evidence: list[Evidence]
    def validators(self, epoch: int) -> dict[str, int]:
        """validators(epoch) on the tip's chain, {address hex: weight}: the finalized stakes
        under the entry cap (docs/consensus.md, "Validator sets")."""
    def leader(self, slot: int) -> Optional[bytes]: ...
    def block_at(self, height: int) -> Optional[Block]: ...
    height: int
    tip: bytes
    tip_slot: int
    state: AccountModel
    vote_finality: FinalityState
    """What the votes in the tip's chain justify and finalize; fork choice does not follow it
    yet."""

class Client:
    def __init__(self, url: str = "http://127.0.0.1:5000", timeout_ms: int = 10000) -> None: ...
    def info(self) -> dict:
        """GET /info: chain_id, genesis_hash, height, tip, state_root, slot, justified_height,
        finalized_height, finalized_hash, peers, pool_size, syncing, version; epoch,
        protocol_version and address when the node gives them."""
    def finality(self) -> dict:
        """GET /finality: {"justified": {"height": int, "hash": str},
        "finalized": {"height": int, "hash": str}}, hashes in lower-case hex."""
    def validators(self, epoch: Optional[int] = None) -> dict:
        """GET /validators: {"epoch": int, "nonce": str, "total_stake": int,
        "validators": [{"address": str, "stake": int}]}, the validator set and nonce(epoch) of
        the node's best chain for epoch (default: the node's current epoch), addresses
        ascending, hex in lower case."""
    def votes(self, target: str) -> dict:
        """GET /votes: {"target": str, "votes": list[Vote]}, the votes the node's vote pool
        holds for the target block (hex hash)."""
    def account(self, address: Address) -> dict: ...
    def submit(self, tx: Transaction) -> str: ...
    def transaction_status(self, id: str) -> dict: ...
    def block(self, height: int) -> Block: ...
