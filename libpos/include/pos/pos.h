// The whole core API.
#pragma once

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/blockchain.h"
#include "pos/clock.h"
#include "pos/consensus.h"
#include "pos/crypto.h"
#include "pos/genesis.h"
#include "pos/keys.h"
#include "pos/proof_of_stake.h"
#include "pos/state_transition.h"
#include "pos/status.h"
#include "pos/storage.h"
#include "pos/transaction.h"
#include "pos/transaction_pool.h"
#include "pos/version.h"
#include "pos/wallet.h"
